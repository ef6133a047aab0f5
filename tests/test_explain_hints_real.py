"""Each hint of a built-in error entry fires on a real message and not on a look-alike
(issue #16, "Tests").

The real messages are the ones kb already holds: every error entry's `examples:`, the
pastes of tests/data/explain_corpus.yaml (its `unrelated` items included), and what each
raising snippet raises with the installed torch (run once, as `kb check` runs it).

- positive: for every hint, some real message is answered by the hint's entry (first, or
  beside the entry of an error printed before it) and that answer shows the hint, filled;
- negative: a hint with a `when` stays silent on some real message its entry answers (the
  condition tells messages apart); a hint without one is never shown on the look-alike,
  the real message of another entry (or an unrelated error) most alike in wording, which
  the entry must not answer first.

A hint with no real message behind it is either waiting for one (add the pasted message to
the corpus with its thread, or a CPU-produced one to the entry's `examples:`) or has a
condition no real message can meet: fix the hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from kb.explain import Explanation, Match, explain
from kb.explain.hints import render_hints
from kb.model import Hint
from tests.test_explain_corpus import builtin_entries, corpus, raised_results

# Entries whose hints may fail while another branch edits them (empty: all are merged).
IN_FLIGHT: frozenset[str] = frozenset()
TRACEBACKS = Path(__file__).resolve().parent / "data" / "tracebacks"
# Names only a `kb explain --capture` run records (kb.explain.derive.runtime_captures): no
# pasted text can fire a hint that needs them. tests/test_explain_runtime.py fires each on
# a real script run through the wrapper.
RUNTIME_NAMES = re.compile(r"\b(?:frame_arg_(?:shape|dtype|device)|frame_call_(?:repr|type|device)"
                           r"|on_dev_\w+)\b")


# Hints no real message kb holds has fired yet, each with why: a GPU, a cluster, another OS
# or a package not installed here is needed to produce the message, and no public paste of
# it was found yet. Strict: once a message makes one fire, its test fails until the hint
# leaves this list. Shrink it by adding the pasted message (with its thread) to
# tests/data/explain_corpus.yaml.
_GPU = "needs a GPU/driver/CUDA-toolkit message; no paste found yet"
_HOST = ("needs a message from another host set-up (ssh, pip, conda, shell, libc); "
         "no paste found yet")
_OLD = "needs an older torch's wording that names the value; no paste found yet"
_PKG = "needs a package not installed here; no paste found yet"
NO_POSITIVE_YET: dict[tuple[str, int], str] = {
    ("err-collate-type", 1): _PKG + " (torch_geometric Data in a plain DataLoader)",
    ("err-conda-http", 1): _HOST + " (conda HTTP 404)",
    ("err-crlf-bad-interpreter", 1): _HOST + " (bash 5.1+ says 'cannot execute: required file"
                                             " not found' instead of 'bad interpreter')",
    ("err-cuda-deserialize", 0): _GPU + " (a CUDA checkpoint on a machine with 0 devices)",
    ("err-cuda-version-mismatch-build", 1): _GPU + " (nvcc and torch differing in minor only)",
    ("err-glibcxx-not-found", 1): _HOST + " (GLIBCXX_x not found, with the version captured)",
    ("err-index-out-of-range-embedding", 1): _OLD + " (Tried to access index -1 out of table)",
    ("err-loss-input-dims", 3): _OLD + " (targets of size: : [N, H, W, 3])",
    ("err-no-kernel-image", 2): _GPU + " (an sm_6x/sm_70 GPU named in the message)",
    ("err-nvcc-unsupported-arch", 3): _GPU + " (nvcc and compute_80)",
    ("err-nvcc-unsupported-arch", 5): _GPU + " (CUDA 13 nvcc and compute_50..72)",
    ("err-nvcc-unsupported-arch", 10): _GPU + " (an empty TORCH_CUDA_ARCH_LIST item)",
    ("err-pip-build-wheel-failed", 1): _HOST + " (a build needing a module other than the"
                                               " usual ones)",
    ("err-pip-externally-managed", 0): _HOST + " (the /usr prefix printed)",
    ("err-ssh-tunnel-refused", 0): _HOST + " (a tunnel failure other than 'Connection refused')",
    ("err-tensorboard-bind", 1): _PKG + " (tensorboard --host with a foreign address)",
    ("err-too-many-open-files", 0): _HOST + " (shared memory: No space left on device)",
    ("err-too-many-open-files", 1): _HOST + " (shared memory: Too many open files)",
    ("err-torch-six-removed", 1): _OLD + " (cannot import name 'string_classes')",
    ("err-torchrun-child-failed", 6): "the 'Signal 9 (SIGKILL) received by PID' line is only"
                                      " matched alone: in torchrun's report the exitcode line"
                                      " answers first (and hint 0 says the same)",
    ("err-torchscript-unknown-op", 1): _OLD + " (a model saved by a newer torch: aten::op)",
    ("err-torchvision-functional-tensor", 1): _PKG + " (torchvision's functional_pil)",
    ("err-undefined-symbol-extension", 1): _HOST + " (a C++ undefined symbol, _ZN...)",
}
# Hints with a `when` that is true on every real message their entry answers, because the
# messages for the other branch are among NO_POSITIVE_YET.
NO_NEGATIVE_YET: dict[tuple[str, int], str] = {
    ("err-tensorboard-bind", 0): "its other case is err-tensorboard-bind hint 1",
    ("err-torchvision-functional-tensor", 0): "its other case is functional_pil (hint 1); "
                                              "no pasted functional_pil message found yet",
}


@dataclass(frozen=True)
class Real:
    text: str
    owner: str | None  # the entry it belongs to; None for an unrelated error
    origin: str  # where kb holds it, for the failure message


@cache
def real_messages() -> tuple[Real, ...]:
    out: list[Real] = []
    for entry in builtin_entries().values():
        if entry.kind == "error":
            out += [Real(ex, entry.id, f"entries/{entry.id}.yaml examples")
                    for ex in entry.examples]
    out += [Real(item["text"], item["id"], f"corpus {item['source']}") for item in corpus()]
    # whole tracebacks from real runs, where hints may use the user's frame and names
    for path in sorted(TRACEBACKS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        matches = answer(text).matches
        if matches:
            out.append(Real(text, matches[0].entry.id, f"traceback {path.name}"))
    for (entry_id, snippet), run in sorted(raised_results().items()):
        if run.exc_type:
            out.append(Real(f"{run.exc_type}: {run.exc_message}", entry_id,
                            f"snippet {entry_id}/{snippet}"))
    return tuple(out)


@cache
def answer(text: str) -> Explanation:
    return explain(text, builtin_entries())


def shown(hint: Hint, m: Match) -> bool:
    """Whether the answer `m` shows `hint`, filled from its captures."""
    filled = render_hints([hint], m.captures, "en")
    return bool(filled) and filled[0] in m.hints


def answered_by(entry_id: str, text: str) -> Match | None:
    """The answer's first match, if it is `entry_id`'s."""
    matches = answer(text).matches
    return matches[0] if matches and matches[0].entry.id == entry_id else None


def shown_by(entry_id: str, text: str) -> Match | None:
    """`entry_id`'s match among those the answer shows (all carry their hints)."""
    return next((m for m in answer(text).matches if m.entry.id == entry_id), None)


_WORD = re.compile(r"[a-z_]{3,}")


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def look_alike(entry_id: str, own: list[Real]) -> Real:
    """The real message of another entry, or an unrelated one, that shares the most words
    with the entry's own messages (Jaccard), ties broken by text. Entries linked by
    `see_also` (either way) are left out: their messages may rightly be the same error."""
    mine = [words(r.text) for r in own]

    def alike(r: Real) -> tuple[float, str]:
        w = words(r.text)
        best = max((len(w & m) / len(w | m) for m in mine if w | m), default=0.0)
        return best, r.text

    entries = builtin_entries()
    related = set(entries[entry_id].see_also)
    others = [r for r in real_messages() if r.owner != entry_id and r.owner not in related
              and entry_id not in (entries[r.owner].see_also if r.owner in entries else ())]
    return max(others, key=alike)


def hint_cases(waiting: dict[tuple[str, int], str]) -> list[pytest.param]:
    cases = []
    for entry in sorted(builtin_entries().values(), key=lambda e: e.id):
        if entry.kind != "error":
            continue
        for n in range(len(entry.hints)):
            marks = []
            hint = entry.hints[n]
            if RUNTIME_NAMES.search(f"{hint.when} {hint.en}"):
                marks.append(pytest.mark.skip(reason="needs a --capture run: "
                                                     "tests/test_explain_runtime.py"))
            elif entry.id in IN_FLIGHT:
                marks.append(pytest.mark.xfail(
                    reason=f"{entry.id} is being edited on another branch", strict=False))
            elif (entry.id, n) in waiting:
                marks.append(pytest.mark.xfail(reason=waiting[entry.id, n], strict=True))
            cases.append(pytest.param(entry.id, n, id=f"{entry.id}#{n}", marks=marks))
    return cases


def test_the_waiting_lists_name_hints_that_exist():
    for entry_id, n in [*NO_POSITIVE_YET, *NO_NEGATIVE_YET]:
        entry = builtin_entries().get(entry_id)
        assert entry is not None and n < len(entry.hints), (entry_id, n)


def _hint(entry_id: str, n: int) -> Hint:
    return builtin_entries()[entry_id].hints[n]


@pytest.mark.parametrize("entry_id, n", hint_cases(NO_POSITIVE_YET))
def test_each_hint_fires_on_a_real_message_its_entry_answers(entry_id, n):
    hint = _hint(entry_id, n)
    for real in real_messages():
        m = shown_by(entry_id, real.text)
        if m is not None and shown(hint, m):
            return
    answered = [r for r in real_messages() if shown_by(entry_id, r.text)]
    captures = sorted({k for r in answered for k in shown_by(entry_id, r.text).captures})
    pytest.fail(f"{entry_id} hint {n} (when {hint.when!r}) is shown on none of the "
                f"{len(answered)} real messages kb answers with {entry_id} (captures seen: "
                f"{', '.join(captures) or 'none'}); add a real message that triggers it to "
                f"tests/data/explain_corpus.yaml or entries/{entry_id}.yaml examples, or fix "
                "the hint if no real message can")


@pytest.mark.parametrize("entry_id, n", hint_cases(NO_NEGATIVE_YET))
def test_each_hint_stays_silent_on_a_real_message_it_does_not_fit(entry_id, n):
    hint = _hint(entry_id, n)
    own = [r for r in real_messages() if shown_by(entry_id, r.text)]
    if hint.when.strip():
        silent = [r for r in own if not shown(hint, shown_by(entry_id, r.text))]
        assert silent, (f"{entry_id} hint {n}: its when {hint.when!r} is true on all "
                        f"{len(own)} real messages {entry_id} answers; add one it does not "
                        "fit, or drop the condition if it always holds")
        return
    assert own, f"{entry_id}: no real message is answered by it"
    other = look_alike(entry_id, own)
    got = [(m.entry.id, m.how, m.score) for m in answer(other.text).matches]
    assert answered_by(entry_id, other.text) is None, (
        f"{entry_id} hint {n} has no condition, and {entry_id} answers the look-alike "
        f"{other.text[:120]!r} ({other.origin}, which belongs to {other.owner or 'no entry'}): "
        f"{got}")
