"""Single entries (kb show) -> text (plain for a pipe, else rich) or JSON. Hits and
lists: kb.render.hits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kb.model import Entry, localized
from kb.record import asdict
from kb.render.blocks import BLANK, Block, text, write
from kb.render.hits import KIND_STYLE

if TYPE_CHECKING:
    from rich.console import Console

    from kb.render.plain import PlainConsole

LABELS = {
    "en": {"commands": "Commands", "causes": "Causes", "fix": "Fix", "snippets": "Snippets",
           "see_also": "See also", "source": "from", "expect": "prints", "raises": "raises",
           "requires": "needs", "notes": "Notes", "none": "no entries"},
    "zh": {"commands": "命令", "causes": "原因", "fix": "解决", "snippets": "代码示例",
           "see_also": "另见", "source": "来自", "expect": "输出", "raises": "抛出",
           "requires": "需要", "notes": "说明", "none": "没有条目"},
}


def entry_json(entry: Entry, overridden: list[str] | None = None) -> dict[str, Any]:
    data = asdict(entry)
    data["source"] = str(entry.source)
    if overridden:
        data["overrides"] = overridden
    return data


def render_entry(console: Console | PlainConsole, entry: Entry, lang: str,
                 overridden: list[str] | None = None) -> None:
    write(console, entry_blocks(entry, lang, overridden))


def entry_blocks(entry: Entry, lang: str, overridden: list[str] | None = None) -> list[Block]:
    label = LABELS[lang]
    meta = [(entry.id, "bold"), ("  ", ""), (entry.kind, KIND_STYLE.get(entry.kind, ""))]
    if entry.tags:
        meta.append(("  " + " ".join(f"#{t}" for t in entry.tags), "dim"))
    out: list[Block] = [text((entry.text("title", lang), "bold")), text(*meta),
                        text((f"{label['source']} {entry.source}", "dim"))]
    out.extend(text((f"  (overrides {path})", "dim")) for path in overridden or [])
    out += [BLANK, ("markdown", entry.text("summary", lang))]
    body = entry.text("body", lang)
    if body:
        out += [BLANK, ("markdown", body)]
    if entry.commands:
        out += _section(label["commands"])
        for c in entry.commands:
            does = localized(c.does, c.zh, lang)
            out += [text((c.cmd, "bold green"), indent=2), text((does, ""), indent=6)]
    causes = entry.causes_in(lang)
    if causes:
        out += [*_section(label["causes"]),
                ("markdown", "\n".join(f"{i}. {c}" for i, c in enumerate(causes, 1)))]
    fix = entry.text("fix", lang)
    if fix:
        out += [*_section(label["fix"]), ("markdown", fix)]
    if entry.snippets:
        out += _section(label["snippets"])
        for s in entry.snippets:
            out += [text((f"# {s.name}", "dim")), ("code", s.code, s.lang)]
            if s.expect:
                out += [text((f"{label['expect']}:", "dim")),
                        text((s.expect.rstrip(), ""), indent=2)]
            if s.raises:
                out.append(text((f"{label['raises']}: {s.raises.type}", "red")))
            if s.requires:
                out.append(text((f"{label['requires']}: {', '.join(s.requires)}", "dim")))
            out.append(BLANK)
    if entry.see_also:
        out += [*_section(label["see_also"]), text((", ".join(entry.see_also), ""))]
    return out


def _section(title: str) -> list[Block]:
    return [BLANK, text((title, "bold underline"))]
