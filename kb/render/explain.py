"""`kb explain` results -> text (plain lines for a pipe, else rich) or JSON.

Text: the error as kb read it, then the best match in full (what it means in the
user's own numbers, causes, fix), then the other likely entries on one line each.
With no match: the nearest entries, marked as suggestions, never as the answer.
JSON: an array of matches, best first (keys pinned by tests/test_explain_cli.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kb.explain import THRESHOLD, Explanation, Match
from kb.explain.hints import format_value
from kb.explain.ranking import MIN_SHARED_WORDS
from kb.render.blocks import BLANK, Block, text, write

if TYPE_CHECKING:
    from rich.console import Console

    from kb.render.plain import PlainConsole

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "error": "Error: ", "at": "At ", "yours": "In your case:",
        "causes": "Causes, most likely first:",
        "fix": "Fix:", "first": "Fix, first step:", "more": "More: ",
        "full": "More: kb show {id}, or kb explain --full", "also": "Also possible:",
        "none": "No entry matches this error.",
        "nearest": "No entry matches this error. Nearest entries (not a match):",
        "pattern": "matched", "torch": " the wording of torch {torch}",
        "old": " an older torch's wording",
        "truncated": "matched the start of a cut-off message",
        "wording": "similar wording",
        "sep": ", ", "cause": " (the line that caused it)", "warning": " (a warning)",
        "earlier exception": " (an earlier exception)",
        "why": "Why:", "why_sep": "; ", "why_pattern": "pattern {n} of {of} matched the {where}:",
        "why_captured": "captured: ", "why_derived": "worked out: ", "why_none": "(nothing)",
        "why_candidates": "Candidates (answer at {threshold:.2f} or more):",
        "why_shared": "shares: ", "why_fuzzy": "read as: ",
        "why_few": "fewer than {n} words in common: scaled down to a suggestion",
        "why_foreign": "the paste comes from {tool}, not PyTorch: scaled down to a suggestion",
        "why_guess": "a pattern matched elsewhere: wording alone is not offered",
        "why_below": "below {threshold:.2f}: a suggestion only",
    },
    "zh": {
        "error": "错误：", "at": "位置：", "yours": "你的情况：",
        "causes": "原因（按可能性排序）：",
        "fix": "解决：", "first": "解决（第一步）：", "more": "详情：",
        "full": "详情：kb show {id}，或 kb explain --full", "also": "其他可能：",
        "none": "没有条目与这个错误匹配。",
        "nearest": "没有条目与这个错误匹配。最接近的条目（并非匹配）：",
        "pattern": "匹配", "torch": "（torch {torch} 的措辞）",
        "old": "（旧版 torch 的措辞）",
        "truncated": "匹配了被截断消息的开头", "wording": "措辞相近",
        "sep": "，", "cause": "（引发错误的那一行）", "warning": "（一条警告）",
        "earlier exception": "（较早的异常）",
        "why": "为什么：", "why_sep": "；",
        "why_pattern": "第 {n} 个模式（共 {of} 个）匹配了{where}：",
        "why_captured": "捕获：", "why_derived": "推断：", "why_none": "（无）",
        "why_candidates": "候选条目（{threshold:.2f} 及以上才作为答案）：",
        "why_shared": "共有的词：", "why_fuzzy": "拼写纠正：",
        "why_few": "共有的词少于 {n} 个：降为建议",
        "why_foreign": "这段报错来自 {tool}，不是 PyTorch：降为建议",
        "why_guess": "已有模式匹配：仅凭措辞的候选不作为答案",
        "why_below": "低于 {threshold:.2f}：仅作建议",
    },
}
_WHERE_ZH = {"final exception": "最后的异常", "cause": "引发错误的那一行", "warning": "警告",
             "earlier exception": "较早的异常", "tail": "日志末尾", "message": "消息"}


def explanation_json(result: Explanation) -> list[dict[str, Any]]:
    """The matches, best first: id, title, score, captures, explanation (and the rest);
    `runtime`: what `--capture` recorded in the failing frame, or null."""
    runtime = result.runtime.to_json() if result.runtime is not None else None
    return [{**match_json(m, result), "runtime": runtime} for m in result.matches]


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


def match_json(m: Match, result: Explanation) -> dict[str, Any]:
    entry, lang = m.entry, result.lang
    frame = result.frame
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
        "pattern": m.pattern,
        "summary": entry.text("summary", lang).strip(),
        "causes": list(entry.causes_in(lang)),
        "fix": entry.text("fix", lang).strip(),
        "frame": None if frame is None else {
            "file": frame.path, "line": frame.line, "function": frame.func, "code": frame.source},
        "short": "\n".join(short_lines(m, lang)),
    }


def render_explanation(console: Console | PlainConsole, result: Explanation, *,
                       full: bool = False, why: bool = False) -> None:
    blocks = _layout(result, full)
    if why:
        blocks += [BLANK, *why_blocks(result)]
    write(console, blocks)


def short_lines(m: Match, lang: str) -> list[str]:
    """What the short answer says of `m`: the filled hints (else the summary's first
    sentence), then the fix's first step."""
    said = list(m.hints[:1]) or [first_sentence(m.entry.text("summary", lang))]
    step = first_step(m.entry.text("fix", lang))
    return [*said, step] if step else said


def first_sentence(text: str) -> str:
    """The first sentence of a paragraph (the whole first paragraph when it has no stop)."""
    para = " ".join(text.strip().split("\n\n")[0].split())
    for stop in (". ", "。", "; ", "；"):
        at = para.find(stop)
        if 0 < at < 240:
            return para[:at + len(stop)].strip()
    return para if len(para) <= 240 else para[:237].rstrip() + "..."


def first_step(fix: str) -> str:
    """The first step of a fix (Markdown): its first list item, or its first code fence
    (at most MAX_STEP_LINES lines), or its first paragraph's first sentence."""
    lines = fix.strip().splitlines()
    if not lines:
        return ""
    head = lines[0].lstrip()
    if head.startswith("```"):
        end = next((i for i in range(1, len(lines)) if lines[i].lstrip().startswith("```")),
                   len(lines))
        body = lines[1:end]
        if len(body) > MAX_STEP_LINES:
            body = [*body[:MAX_STEP_LINES - 1], "..."]
        return "\n".join([lines[0], *body, "```"])
    item = _LIST_ITEM.match(head)
    if item:
        out = [item.group(1)]
        for line in lines[1:]:
            if not line.strip() or _LIST_ITEM.match(line.lstrip()) or not line[:1].isspace():
                break
            out.append(line.strip())
        return " ".join(out)
    return first_sentence(fix)


MAX_STEP_LINES = 3


def _inline(heading: str) -> str:
    """A heading that text follows on its line: `Fix:` + space; a full-width `：` has its own."""
    return heading if heading.endswith("：") else heading + " "


def _code_spans(markdown: str, style: str = "") -> list[tuple[str, str]]:
    """One paragraph with `code` spans as text spans: the code in cyan without its
    backticks, the rest in `style`."""
    parts = markdown.split("`")
    if len(parts) % 2 == 0:  # an unclosed backtick: the text as written
        return [(markdown, style)]
    return [(part, "cyan" if i % 2 else style) for i, part in enumerate(parts) if part]
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,2}[.)])\s+(.*)$")


def _layout(result: Explanation, full: bool) -> list[Block]:
    label = LABELS.get(result.lang, LABELS["en"])
    headline = result.error.headline
    if not full and len(headline) > MAX_SHORT_HEADLINE:
        headline = headline[:MAX_SHORT_HEADLINE - 3].rstrip() + "..."
    out: list[Block] = [text((f"{label['error']}{headline}", "dim"))]
    if result.frame is not None:
        out.append(_frame_line(result, label))
    # what --capture recorded there: `images: [100, 32, 32, 3] float32 cpu`
    out.extend(text((line, "cyan"), indent=2) for line in runtime_lines(result))
    out.append(BLANK)
    if not result.matches:
        out.append(text((label["nearest"] if result.nearest else label["none"], "bold")))
        out.extend(_match_line(m, result.lang) for m in result.nearest)
        return out
    best, *others = result.matches
    if not full:
        return out + _short_blocks(best, others, result.lang, label)
    out.extend(_match_blocks(best, result.lang, label))
    if others:
        out += [BLANK, text((label["also"], "bold"))]
        out.extend(_match_line(m, result.lang) for m in others)
    return out


MAX_SHORT_HEADLINE = 160  # characters of the error the short answer repeats: two lines


def _frame_line(result: Explanation, label: dict[str, str]) -> Block:
    frame = result.frame
    assert frame is not None
    spans = [(label["at"], "dim"), (frame.where(), "bold")]
    if frame.source:
        spans.append((f"  {frame.source}", "cyan"))
    return text(*spans)


def _how(m: Match, label: dict[str, str]) -> str:
    """`matched, 1.00`; `matched the wording of torch <1.9, 1.00` for an old wording."""
    torch = m.entry.torch_of(m.pattern) if m.pattern else ""
    wording = (label["old"] if torch == "old" else label["torch"].format(torch=torch)
               if torch else "")
    return f"{label[m.how]}{wording}{label.get(m.where, '')}{label['sep']}{m.score:.2f}"


def _heading(m: Match, lang: str, label: dict[str, str]) -> list[Block]:
    how = _how(m, label)
    return [text((m.entry.id, "bold red"), ("  ", ""), (m.entry.text("title", lang), "bold")),
            text((how, "dim"))]


def _short_blocks(m: Match, others: list[Match], lang: str,
                  label: dict[str, str]) -> list[Block]:
    """The short answer: what it is, in the user's case, the first thing to do, and
    where the rest is (about 12 lines on an 80-column terminal)."""
    how = f"({_how(m, label)})"
    out: list[Block] = [text((m.entry.id, "bold red"), ("  ", ""),
                             (m.entry.text("title", lang), "bold"), ("  ", ""), (how, "dim"))]
    if m.hints:
        out.append(text((_inline(label["yours"]), "bold"), *_code_spans(m.hints[0], "yellow")))
    else:
        out.append(("markdown", first_sentence(m.entry.text("summary", lang))))
    step = first_step(m.entry.text("fix", lang))
    if step.startswith("```"):  # a command or code: its lines as they are, no fence
        lang_tag = step.splitlines()[0].strip("`").strip()
        code = "\n".join(step.splitlines()[1:-1])
        out += [text((label["first"], "bold")), ("code", code, lang_tag or "text")]
    elif step:
        out.append(text((_inline(label["first"]), "bold"), *_code_spans(step)))
    more = label["full"].format(id=m.entry.id)
    if others:
        more += f"{label['sep']}{label['also']} {', '.join(o.entry.id for o in others)}"
    return [*out, text((more, "dim"))]


def _match_blocks(m: Match, lang: str, label: dict[str, str]) -> list[Block]:
    entry = m.entry
    out: list[Block] = [*_heading(m, lang, label), BLANK,
                        ("markdown", entry.text("summary", lang).strip())]
    if m.hints:
        out += [BLANK, text((label["yours"], "bold"))]
        out.extend(text(*_code_spans(hint, "yellow"), indent=2) for hint in m.hints)
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


# ---------------------------------------------------------------- --why


def why_blocks(result: Explanation) -> list[Block]:
    """Which pattern matched and what it captured, what kb worked out beside it, and
    every candidate with its score and why it was taken or left."""
    lang = result.lang
    label = LABELS.get(lang, LABELS["en"])
    out: list[Block] = [text((label["why"], "bold"))]
    for m in result.matches[:1]:
        if m.pattern:
            n = m.entry.patterns.index(m.pattern) + 1 if m.pattern in m.entry.patterns else 0
            where = _WHERE_ZH.get(m.where, m.where) if lang == "zh" else m.where
            out.append(text((m.entry.id, "bold"), ("  ", ""), (label["why_pattern"].format(
                n=n, of=len(m.entry.patterns), where=where), "")))
            out.append(text((m.pattern, "cyan"), indent=2))
            out.append(text((m.matched, "dim"), indent=2))
        given = {k: v for k, v in m.captures.items() if k in _group_names(m.pattern)}
        derived = {k: v for k, v in m.captures.items() if k not in given}
        out.append(text((label["why_captured"], "bold"), (_values(given) or label["why_none"], ""),
                        indent=2))
        if derived:
            out.append(text((label["why_derived"], "bold"), (_values(derived), ""), indent=2))
    out += [BLANK, text((label["why_candidates"].format(threshold=THRESHOLD), "bold"))]
    answered = {m.entry.id for m in result.matches}
    evidence = any(m.how == "pattern" for m in result.candidates)
    for m in result.candidates:
        mark = "*" if m.entry.id in answered else " "
        out.append(text((f"{mark} {m.score:.2f}  ", ""), (m.entry.id, "bold"),
                        (f"  {label[m.how]}", "dim")))
        out.extend(_why_reason(m, answered, evidence, label))
    return out


def _why_reason(m: Match, answered: set[str], evidence: bool,
                label: dict[str, str]) -> list[Block]:
    """One line under a candidate: the words it shares, the misspellings read as known
    words, and why it is not an answer."""
    said: list[str] = []
    if m.wording is not None:
        ranked = m.wording
        said.append(label["why_shared"] + ", ".join(ranked.shared))
        if ranked.fuzzy:
            said.append(label["why_fuzzy"] + ", ".join(f"{a} -> {b}" for a, b in ranked.fuzzy))
        if ranked.few_words:
            said.append(label["why_few"].format(n=MIN_SHARED_WORDS))
        if ranked.foreign:
            said.append(label["why_foreign"].format(tool=ranked.foreign))
    if m.entry.id not in answered:
        if m.score < THRESHOLD:
            said.append(label["why_below"].format(threshold=THRESHOLD))
        elif evidence and m.how == "wording":
            said.append(label["why_guess"])
    return [text((label["why_sep"].join(said), "dim"), indent=8)] if said else []


def _group_names(pattern: str) -> set[str]:
    return set(re.findall(r"\(\?P<(\w+)>", pattern))


def _values(values: dict[str, Any]) -> str:
    return "; ".join(f"{k}={format_value(v)}" for k, v in values.items())
