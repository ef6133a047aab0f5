"""`kb explain` results -> rich text or JSON.

Text: the error as kb read it, then the best match in full (what it means in the
user's own numbers, causes, fix), then the other likely entries on one line each.
With no match: the nearest entries, marked as suggestions, never as the answer.
JSON: an array of matches, best first (keys pinned by tests/test_explain_cli.py).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from kb.explain import Explanation, Match
from kb.render.markup import KbMarkdown as Markdown

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "error": "Error: ", "yours": "In your case:", "causes": "Causes, most likely first:",
        "fix": "Fix:", "more": "More: ", "also": "Also possible:",
        "none": "No entry matches this error.",
        "nearest": "No entry matches this error. Nearest entries (not a match):",
        "pattern": "matched", "truncated": "matched the start of a cut-off message",
        "wording": "similar wording",
        "sep": ", ", "cause": " (the line that caused it)", "warning": " (a warning)",
        "earlier exception": " (an earlier exception)",
    },
    "zh": {
        "error": "错误：", "yours": "你的情况：", "causes": "原因（按可能性排序）：",
        "fix": "解决：", "more": "详情：", "also": "其他可能：",
        "none": "没有条目与这个错误匹配。",
        "nearest": "没有条目与这个错误匹配。最接近的条目（并非匹配）：",
        "pattern": "匹配", "truncated": "匹配了被截断消息的开头", "wording": "措辞相近",
        "sep": "，", "cause": "（引发错误的那一行）", "warning": "（一条警告）",
        "earlier exception": "（较早的异常）",
    },
}


def explanation_json(result: Explanation) -> list[dict[str, Any]]:
    """The matches, best first: id, title, score, captures, explanation (and the rest)."""
    return [match_json(m, result.lang) for m in result.matches]


def match_json(m: Match, lang: str) -> dict[str, Any]:
    entry = m.entry
    return {
        "id": entry.id,
        "title": entry.text("title", lang),
        "score": m.score,
        "captures": m.captures,
        "explanation": "\n".join(m.hints) if m.hints else entry.text("summary", lang).strip(),
        "hints": list(m.hints),
        "how": m.how,
        "where": m.where,
        "matched": m.matched,
        "summary": entry.text("summary", lang).strip(),
        "causes": list(entry.causes_in(lang)),
        "fix": entry.text("fix", lang).strip(),
    }


def render_explanation(console: Console, result: Explanation) -> None:
    label = LABELS.get(result.lang, LABELS["en"])
    console.print(Text(f"{label['error']}{result.error.headline}", style="dim"), overflow="fold")
    console.print()
    if not result.matches:
        _render_nearest(console, result.nearest, result.lang, label)
        return
    best, *others = result.matches
    _render_match(console, best, result.lang, label)
    if others:
        console.print()
        console.print(Text(label["also"], style="bold"))
        for m in others:
            console.print(_match_line(m, result.lang), overflow="fold")


def _render_match(console: Console, m: Match, lang: str, label: dict[str, str]) -> None:
    entry = m.entry
    head = Text()
    head.append(entry.id, style="bold red")
    head.append("  ")
    head.append(entry.text("title", lang), style="bold")
    console.print(head, overflow="fold")
    how = f"{label[m.how]}{label.get(m.where, '')}{label['sep']}{m.score:.2f}"
    console.print(Text(how, style="dim"))
    console.print()
    console.print(Markdown(entry.text("summary", lang).strip()))
    if m.hints:
        console.print()
        console.print(Text(label["yours"], style="bold"))
        for hint in m.hints:
            console.print(Padding(Text(hint, style="yellow"), (0, 0, 0, 2)), overflow="fold")
    causes = entry.causes_in(lang)
    if causes:
        console.print()
        console.print(Text(label["causes"], style="bold"))
        console.print(Markdown("\n".join(f"{i}. {c}" for i, c in enumerate(causes, 1))))
    fix = entry.text("fix", lang).strip()
    if fix:
        console.print()
        console.print(Text(label["fix"], style="bold"))
        console.print(Markdown(fix))
    console.print()
    console.print(Text(f"{label['more']}kb show {entry.id}", style="dim"))


def _match_line(m: Match, lang: str) -> Text:
    """One other or nearest match: id, title, score."""
    line = Text("  ")
    line.append(m.entry.id, style="bold")
    line.append(f"  {m.entry.text('title', lang)}  ")
    line.append(f"({m.score:.2f})", style="dim")
    return line


def _render_nearest(console: Console, nearest: tuple[Match, ...], lang: str,
                    label: dict[str, str]) -> None:
    console.print(Text(label["nearest"] if nearest else label["none"], style="bold"))
    for m in nearest:
        console.print(_match_line(m, lang), overflow="fold")
