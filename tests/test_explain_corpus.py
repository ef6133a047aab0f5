"""The proof for the built-in error entries (issue #4):

- every snippet that raises an error on CPU raises the real message with the installed
  torch (run in the sandbox by kb.runner, as `kb check` runs it), and `kb explain` on
  that message answers with its entry first;
- every `examples:` message of an entry answers with that entry first;
- the corpus of real pastes (tests/data/explain_corpus.yaml) keeps its accuracy floor,
  and unrelated errors (JS, Java, Go, Rust...) match nothing.

bench/explain_accuracy.py prints the corpus numbers in detail.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from kb.explain import explain
from kb.loader import load_entries
from kb.model import Entry
from kb.record import replace
from kb.runner import RunOptions, SnippetResult, Status, run_entries

CORPUS = Path(__file__).resolve().parent / "data" / "explain_corpus.yaml"
TOP1_FLOOR = 0.90  # share of corpus items (with an entry) answered first
TOP3_FLOOR = 0.97  # ... answered among the first three


@cache
def builtin_entries() -> dict[str, Entry]:
    return load_entries().entries


def raising_entries() -> list[Entry]:
    """The error entries, each with only its snippets that must raise on a CPU."""
    out = []
    for entry in builtin_entries().values():
        snippets = tuple(s for s in entry.snippets
                         if s.raises and s.lang == "python" and not s.requires)
        if entry.kind == "error" and snippets:
            out.append(replace(entry, snippets=snippets))
    return sorted(out, key=lambda e: e.id)


@cache
def raised_results() -> dict[tuple[str, str], SnippetResult]:
    """Every raising snippet run once in the sandbox (kb.runner, as `kb check` runs it),
    once per test session (tests/test_explain_hints_real.py reads the same runs)."""
    report = run_entries(raising_entries(), RunOptions(jobs=2))
    return {(r.id, r.snippet): r for r in report.results}


@pytest.fixture(scope="module")
def raised() -> dict[tuple[str, str], SnippetResult]:
    return raised_results()


@pytest.mark.parametrize("entry_id, name", [(e.id, s.name) for e in raising_entries()
                                            for s in e.snippets])
def test_the_real_message_of_each_raising_snippet_is_explained_by_its_entry(
        raised, entry_id, name):
    run = raised[(entry_id, name)]
    assert run.status is Status.PASSED and run.exc_type, f"{entry_id}/{name}: {run.reason}"
    message = f"{run.exc_type}: {run.exc_message}"
    entries = builtin_entries()
    result = explain(message, entries)
    got = [m.entry.id for m in result.matches]
    # A snippet may show the error underneath instead (err-device-side-assert runs the
    # bad index on CPU to reveal it): then an entry it links to answers.
    related = set(entries[entry_id].see_also)
    if not got and any(r not in entries for r in related):
        pytest.skip(f"{message!r} belongs to an entry not written yet ({sorted(related)})")
    assert got and (got[0] == entry_id or got[0] in related), (
        f"{message!r}: explain answered {got or 'nothing'}; check the patterns of "
        f"entries/{entry_id}.yaml")
    assert result.matches[0].how == "pattern", "the real message must match a pattern, whole"
    best = result.matches[0]
    assert best.entry.torch_of(best.pattern) != "old", (
        f"{message!r} is what this torch prints, but the pattern it matched in "
        f"entries/{best.entry.id}.yaml is marked `torch: old`")


def raising_wordings() -> list[tuple[str, str, str]]:
    """(entry, snippet, wording) for every wording a raising snippet accepts: its `match`
    and each of `raises.elsewhere` (how torch says it on another CPU path or build)."""
    return [(e.id, s.name, w) for e in builtin_entries().values() for s in e.snippets
            if s.raises and s.raises.elsewhere for w in s.raises.wordings]


@pytest.mark.parametrize("entry_id, name, wording", raising_wordings())
def test_every_wording_of_a_raising_snippet_is_a_real_message_its_entry_explains(
        entry_id, name, wording):
    """This machine raises one wording; the others come from other CPUs. Each must have a
    real message among the entry's examples, and that message must explain to the entry,
    so that kb answers right on every machine, not only on the one that ran the check."""
    entry = builtin_entries()[entry_id]
    real = [ex for ex in entry.examples if re.search(wording, ex)]
    assert real, (f"{entry_id}/{name}: no example in entries/{entry_id}.yaml is worded "
                  f"{wording!r}; add the real message as it is printed there")
    got = [m.entry.id for m in explain(real[0], builtin_entries()).matches]
    assert got and got[0] == entry_id, f"{real[0]!r}: explain answered {got or 'nothing'}"


def entry_examples() -> list[tuple[str, str]]:
    return sorted((e.id, ex) for e in builtin_entries().values() if e.kind == "error"
                  for ex in e.examples)


@pytest.mark.parametrize("entry_id, example", entry_examples())
def test_each_example_of_an_entry_is_explained_by_that_entry(entry_id, example):
    matches = explain(example, builtin_entries()).matches
    got = [m.entry.id for m in matches]
    # an assert line printed before "device-side assert triggered" names the real error: its
    # entry answers first, the asynchronous report second
    cause_first = bool(matches) and matches[0].where == "cause" and entry_id in got[:2]
    # two entries whose patterns claim the very same text tie and both are shown; such an
    # overlap is for the entries' authors to settle
    tie = (len(matches) > 1 and entry_id in got[:2] and matches[0].matched == matches[1].matched
           and matches[0].score == matches[1].score)
    assert got and (got[0] == entry_id or cause_first or tie), (
        f"{example!r}: explain answered {got or 'nothing'}")


def corpus() -> list[dict[str, str]]:
    return yaml.safe_load(CORPUS.read_text(encoding="utf-8"))


def test_the_corpus_is_well_formed():
    items = corpus()
    assert len(items) >= 100
    assert sum(1 for i in items if i["id"] is None) >= 10
    for item in items:
        assert set(item) <= {"id", "text", "source", "kind", "note"}, item
        assert item["source"].startswith("https://"), item
        assert item["text"].strip(), item
        assert item.get("kind", "plain") in {"plain", "traceback", "old-wording", "mangled",
                                             "truncated", "unrelated"}, item
        assert (item["id"] is None) == (item.get("kind") == "unrelated"), item


def test_the_corpus_keeps_its_accuracy_floor():
    entries = builtin_entries()
    top1 = top3 = n = 0
    misses = []
    for item in corpus():
        if item["id"] is None or item["id"] not in entries:
            continue
        got = [m.entry.id for m in explain(item["text"], entries).matches]
        n += 1
        top1 += bool(got) and got[0] == item["id"]
        top3 += item["id"] in got
        if not got or got[0] != item["id"]:
            misses.append(f"{item['id']} <- {got}: {item['text'][:80]!r}")
    if n == 0:
        pytest.skip("no error entries yet")
    assert top1 / n >= TOP1_FLOOR, "\n".join(misses)
    assert top3 / n >= TOP3_FLOOR, "\n".join(misses)


@pytest.mark.parametrize("text", [i["text"] for i in corpus() if i["id"] is None])
def test_an_unrelated_error_from_the_corpus_matches_nothing(text):
    result = explain(text, builtin_entries())
    assert not result.found, [(m.entry.id, m.score, m.how) for m in result.matches]


def old_patterns() -> list[tuple[str, str]]:
    return sorted((e.id, p) for e in builtin_entries().values()
                  for p, torch in zip(e.patterns, e.pattern_torch, strict=True) if torch == "old")


@pytest.mark.parametrize("entry_id, pattern", old_patterns())
def test_an_old_wording_is_kept_for_the_real_messages_that_still_show_it(entry_id, pattern):
    """An old torch's wording stays, marked (`torch: old`): users still paste it from old
    installs and old threads. Each must answer a real message of the corpus or the
    entry's examples, and say that the wording is an older torch's."""
    from kb.render.explain import LABELS, _how

    texts = [*builtin_entries()[entry_id].examples,
             *(i["text"] for i in yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
               if i.get("id") == entry_id)]
    answered = [m for t in texts for m in explain(t, builtin_entries()).matches[:1]
                if m.entry.id == entry_id and m.pattern == pattern]
    assert answered, f"no real message in the corpus or the examples shows {pattern!r}"
    assert "older torch" in _how(answered[0], LABELS["en"])
