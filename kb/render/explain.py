"""`kb explain` results -> text (plain lines for a pipe, else rich) or JSON.

Text: the error as kb read it, then the best match in full (what it means in the
user's own numbers, causes, fix), then the other likely entries on one line each.
With no match: the nearest entries, marked as suggestions, never as the answer.
JSON: an array of matches, best first (keys pinned by tests/test_explain_cli.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kb.explain import Explanation, Match
from kb.render.blocks import BLANK, Block, text, write

if TYPE_CHECKING:
    from rich.console import Console

    from kb.render.plain import PlainConsole

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
    """The matches, best first: id, title, score, captures, explanation (and the rest);
    `runtime`: what `--capture` recorded in the failing frame, or null."""
    runtime = result.runtime.to_json() if result.runtime is not None else None
    return [{**match_json(m, result.lang), "runtime": runtime} for m in result.matches]


def runtime_lines(result: Explanation, limit: int = 4) -> list[str]:
    """`images: [100, 32, 32, 3] float32 cpu`: what `--capture` recorded of the names on
    the failing line (of the frame's other locals when none is on it), at most `limit`."""
    if result.runtime is None:
        return []
    values = result.runtime.values
    shown = [v for v in values if v.on_line] or list(values)
    # `self.fc` says more than the `self` it belongs to
    shown = [v for v in shown if not any(w.name.startswith(v.name + ".") for w in shown)]
    return [f"{v.name}: {v.describe()}" for v in shown[:limit]]


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


def render_explanation(console: Console | PlainConsole, result: Explanation) -> None:
    write(console, _layout(result))


def _layout(result: Explanation) -> list[Block]:
    label = LABELS.get(result.lang, LABELS["en"])
    out: list[Block] = [text((f"{label['error']}{result.error.headline}", "dim"))]
    out.extend(text((line, "cyan"), indent=2) for line in runtime_lines(result))
    out.append(BLANK)
    if not result.matches:
        out.append(text((label["nearest"] if result.nearest else label["none"], "bold")))
        out.extend(_match_line(m, result.lang) for m in result.nearest)
        return out
    best, *others = result.matches
    out.extend(_match_blocks(best, result.lang, label))
    if others:
        out += [BLANK, text((label["also"], "bold"))]
        out.extend(_match_line(m, result.lang) for m in others)
    return out


def _match_blocks(m: Match, lang: str, label: dict[str, str]) -> list[Block]:
    entry = m.entry
    how = f"{label[m.how]}{label.get(m.where, '')}{label['sep']}{m.score:.2f}"
    out: list[Block] = [
        text((entry.id, "bold red"), ("  ", ""), (entry.text("title", lang), "bold")),
        text((how, "dim")), BLANK, ("markdown", entry.text("summary", lang).strip())]
    if m.hints:
        out += [BLANK, text((label["yours"], "bold"))]
        out.extend(text((hint, "yellow"), indent=2) for hint in m.hints)
    causes = entry.causes_in(lang)
    if causes:
        out += [BLANK, text((label["causes"], "bold")),
                ("markdown", "\n".join(f"{i}. {c}" for i, c in enumerate(causes, 1)))]
    fix = entry.text("fix", lang).strip()
    if fix:
        out += [BLANK, text((label["fix"], "bold")), ("markdown", fix)]
    out += [BLANK, text((f"{label['more']}kb show {entry.id}", "dim"))]
    return out


def _match_line(m: Match, lang: str) -> Block:
    """One other or nearest match: id, title, score."""
    return text(("  ", ""), (m.entry.id, "bold"), (f"  {m.entry.text('title', lang)}  ", ""),
                 (f"({m.score:.2f})", "dim"))
