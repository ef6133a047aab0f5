"""Where kb's data comes from, and why: entry sources, the cache, the language.

Each answer carries its reason (default, env var, option) so `kb paths` can
show it, like tealdeer's --show-paths.
"""

from __future__ import annotations

import locale
import os
from collections.abc import Sequence
from pathlib import Path

from kb.record import record

# In a checkout kb/entries is a link to ../entries; in a wheel it is the directory itself.
ENTRY_SUFFIXES = (".yaml", ".yml")
BUILTIN_ENTRIES = (Path(__file__).resolve().parent / "entries").resolve()


@record
class Source:
    """A directory (or file) of entries, and why kb reads it."""

    path: Path
    origin: str  # "built-in" | "KB_PATH" | "--entries"

    @property
    def builtin(self) -> bool:
        return self.origin == "built-in"


@record
class Located:
    """A path kb uses, and why it is that one."""

    path: Path
    why: str


def entry_sources(extra: Sequence[Path] = (), *, builtin: bool = True) -> list[Source]:
    """Built-in entries, then KB_PATH (colon-separated), then --entries: later wins by id.

    KB_BUILTIN=0 leaves the built-in entries out (only your own notes; tests use it too).
    """
    builtin = builtin and os.environ.get("KB_BUILTIN", "1") != "0"
    sources = [Source(BUILTIN_ENTRIES, "built-in")] if builtin else []
    for part in os.environ.get("KB_PATH", "").split(os.pathsep):
        if part.strip():
            sources.append(Source(Path(part).expanduser(), "KB_PATH"))
    sources.extend(Source(Path(p).expanduser(), "--entries") for p in extra)
    return sources


def cache_dir() -> Located:
    env = os.environ.get("KB_CACHE_DIR")
    if env:
        return Located(Path(env).expanduser(), "KB_CACHE_DIR")
    from platformdirs import user_cache_dir  # only when needed: it is not free to import

    return Located(Path(user_cache_dir("kb", appauthor=False)), "default (platformdirs user cache)")


@record
class Language:
    """The language of the answers, and why it is that one."""

    code: str  # "en" | "zh"
    why: str


def language(option: str | None = None) -> Language:
    """--lang, else KB_LANG, else the locale (zh* -> Chinese), else English."""
    if option:
        return Language(_normal_lang(option), "--lang")
    env = os.environ.get("KB_LANG")
    if env:
        return Language(_normal_lang(env), "KB_LANG")
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return Language("zh" if value.lower().startswith("zh") else "en", var)
    try:
        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    return Language("zh" if loc.lower().startswith("zh") else "en", "locale")


def _normal_lang(value: str) -> str:
    return "zh" if value.strip().lower().startswith(("zh", "cn", "chinese", "中")) else "en"
