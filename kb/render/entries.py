"""Single entries (kb show) -> rich text or JSON. Hits and lists: kb.render.hits."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.text import Text

from kb.model import Entry
from kb.render.hits import KIND_STYLE

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


def render_entry(console: Console, entry: Entry, lang: str,
                 overridden: list[str] | None = None) -> None:
    # Markdown and Syntax pull in markdown-it and pygments: only `kb show` pays for them.
    from rich.markdown import Markdown
    from rich.syntax import Syntax

    label = LABELS[lang]
    head = Text()
    head.append(entry.text("title", lang), style="bold")
    console.print(head)
    meta = Text()
    meta.append(entry.id, style="bold")
    meta.append("  ")
    meta.append(entry.kind, style=KIND_STYLE.get(entry.kind, ""))
    if entry.tags:
        meta.append("  " + " ".join(f"#{t}" for t in entry.tags), style="dim")
    console.print(meta)
    console.print(Text(f"{label['source']} {entry.source}", style="dim"))
    for path in overridden or []:
        console.print(Text(f"  (overrides {path})", style="dim"))
    console.print()
    console.print(Markdown(entry.text("summary", lang)))
    body = entry.text("body", lang)
    if body:
        console.print()
        console.print(Markdown(body))
    if entry.commands:
        _section(console, label["commands"])
        for c in entry.commands:
            console.print(Padding(Text(c.cmd, style="bold green"), (0, 0, 0, 2)), overflow="fold")
            does = c.zh if lang == "zh" and c.zh else c.does
            console.print(Padding(Text(does), (0, 0, 0, 6)), overflow="fold")
    causes = entry.causes_in(lang)
    if causes:
        _section(console, label["causes"])
        console.print(Markdown("\n".join(f"{i}. {c}" for i, c in enumerate(causes, 1))))
    fix = entry.text("fix", lang)
    if fix:
        _section(console, label["fix"])
        console.print(Markdown(fix))
    if entry.snippets:
        _section(console, label["snippets"])
        for s in entry.snippets:
            console.print(Text(f"# {s.name}", style="dim"))
            console.print(Syntax(s.code.rstrip(), "bash" if s.lang == "sh" else "python",
                                 theme="ansi_dark", background_color="default",
                                 word_wrap=True))
            if s.expect:
                console.print(Group(Text(f"{label['expect']}:", style="dim"),
                                    Padding(Text(s.expect.rstrip()), (0, 0, 0, 2))))
            if s.raises:
                console.print(Text(f"{label['raises']}: {s.raises.type}", style="red"))
            if s.requires:
                console.print(Text(f"{label['requires']}: {', '.join(s.requires)}", style="dim"))
            console.print()
    if entry.see_also:
        _section(console, label["see_also"])
        console.print(Text(", ".join(entry.see_also)))


def _section(console: Console, title: str) -> None:
    console.print()
    console.print(Text(title, style="bold underline"))
