"""Look-alikes (issue 16): errors of other languages and tools that share words with PyTorch's
("incompatible shapes", "out of memory", "cannot find module") must not be answered, and
`kb explain --why` must say why each candidate was left. The pastes are the real ones of
tests/data/explain_corpus.yaml (kind: unrelated); the entries are the built-in ones."""

from __future__ import annotations

import re
from functools import cache

import pytest
import yaml
from typer.testing import CliRunner

from kb.cli import app
from kb.explain import explain
from kb.explain.ranking import FOREIGN, foreign_tool
from kb.loader import load_entries
from kb.model import Entry

from .conftest import ROOT, run_kb

CORPUS = ROOT / "tests" / "data" / "explain_corpus.yaml"
CANDIDATE = re.compile(r"^([* ]) (\d\.\d\d)  (\S+)  (.+)$")
LEFT = ("a suggestion only", "wording alone is not offered")  # --why's reasons for leaving one


@cache
def corpus() -> tuple[dict[str, str], ...]:
    return tuple(yaml.safe_load(CORPUS.read_text(encoding="utf-8")))


@cache
def builtin_entries() -> dict[str, Entry]:
    return load_entries().entries


def unrelated() -> list[str]:
    return [item["text"] for item in corpus() if item["id"] is None]


def paste(source: str) -> str:
    """The corpus text pasted in the thread `source`."""
    return next(item["text"] for item in corpus() if item["source"] == source)


GO_OOM = "https://github.com/mhmdiaa/second-order/issues/1"  # fatal error: runtime: out of memory
JULIA_OOM = "https://github.com/una-dinosauria/Rayuela.jl/issues/40"  # CUDA error: out of memory
KERAS_NDIM = "https://github.com/tensorflow/tensorflow/issues/46794"  # expected ndim=3


def candidates(out: str) -> list[tuple[str, float, str, str]]:
    """(mark, score, entry id, the reasons under it) for each candidate --why lists."""
    lines = out.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("Candidates (answer at"))
    found: list[tuple[str, float, str, str]] = []
    for line in lines[start + 1:]:
        m = CANDIDATE.match(line)
        if m:
            found.append((m[1], float(m[2]), m[3], ""))
        elif line.startswith(" " * 8) and found:
            mark, score, entry_id, reasons = found[-1]
            found[-1] = (mark, score, entry_id, (reasons + " " + line.strip()).strip())
    return found


def why(text: str, *args: str):
    return CliRunner().invoke(app, ["explain", "--why", *args, text], env={"COLUMNS": "200"})


@pytest.mark.parametrize("text", unrelated(), ids=lambda t: t.strip().splitlines()[-1][:60])
def test_why_says_for_every_candidate_why_an_unrelated_error_was_not_answered(text: str) -> None:
    result = why(text)
    assert result.exit_code == 1, result.stdout
    assert "No entry matches this error" in result.stdout
    listed = candidates(result.stdout)
    assert listed, result.stdout  # the look-alikes share words: there is always a runner-up
    for mark, score, entry_id, reasons in listed:
        assert mark == " ", f"{entry_id} ({score}) was accepted:\n{result.stdout}"
        assert any(r in reasons for r in LEFT), f"{entry_id}: no reason given: {reasons!r}"


def test_why_names_the_other_runtime_a_go_out_of_memory_comes_from() -> None:
    text = paste(GO_OOM)
    assert text.startswith("fatal error: runtime: out of memory")
    out = why(text).stdout
    by_id = {entry_id: (score, reasons) for _, score, entry_id, reasons in candidates(out)}
    # "runtime", "out", "memory", "error": the words of "cuda runtime error (2) : out of memory"
    score, reasons = by_id["err-cuda-oom"]
    assert "shares: runtime, memory, out, error" in reasons
    assert "the paste comes from Go, not PyTorch: scaled down to a suggestion" in reasons
    assert score < 0.5


def test_the_same_words_without_the_go_dump_are_not_called_go() -> None:
    """The reason is the goroutine dump, not the words: a PyTorch paste with the same words
    is answered, and --why does not mention another runtime."""
    out = why("RuntimeError: cuda runtime error (2) : out of memory at "
              "/pytorch/torch/lib/THC/generic/THCStorage.cu:58").stdout
    assert "No entry matches" not in out
    assert [c[2] for c in candidates(out) if c[0] == "*"] == ["err-cuda-oom"]
    assert "not PyTorch" not in out


def test_why_in_chinese_names_the_other_runtime_through_the_real_command() -> None:
    done = run_kb("explain", "--why", "--lang", "zh", "-", input=paste(GO_OOM),
                  env={"COLUMNS": "200"})
    assert done.returncode == 1, done.stderr
    assert "没有条目与这个错误匹配" in done.stdout
    assert "这段报错来自 Go，不是 PyTorch：降为建议" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_julia_cuda_out_of_memory_is_left_with_its_reason_through_the_real_command() -> None:
    """'CUDA error: out of memory' is PyTorch's wording too; CUDA.jl's '(code #2, ...)' and
    its .jl frames tell them apart."""
    done = run_kb("explain", "--why", "-", input=paste(JULIA_OOM), env={"COLUMNS": "200"})
    assert done.returncode == 1, done.stdout
    assert "No entry matches this error" in done.stdout
    assert "the paste comes from Julia, not PyTorch" in done.stdout


def test_a_keras_shape_error_is_left_below_the_threshold() -> None:
    """No other runtime's frames here: the Keras message is left on its words alone."""
    out = why(paste(KERAS_NDIM)).stdout
    listed = candidates(out)
    assert listed and all(score < 0.5 and "below 0.50" in reasons
                          for _, score, _, reasons in listed)
    assert "not PyTorch" not in out


def test_another_runtimes_paste_is_answered_only_by_a_pattern() -> None:
    """The signs of another runtime scale down wording, never evidence: every corpus paste
    that shows them and has an entry (Node's port in use, npm's EACCES) is answered by a
    pattern, and no paste answered on wording alone shows them."""
    entries = builtin_entries()
    seen = 0
    for item in corpus():
        if item["id"] is None or not foreign_tool(item["text"]):
            continue
        seen += 1
        matches = explain(item["text"], entries).matches
        assert matches and matches[0].entry.id == item["id"], item["source"]
        assert matches[0].how == "pattern", item["source"]
    assert seen >= 3


def test_the_unrelated_pastes_show_most_runtimes_signs() -> None:
    """FOREIGN's signs are real: each tool's sign is seen in a real paste of that tool."""
    seen = {foreign_tool(text) for text in unrelated()}
    assert {name for name, _ in FOREIGN} - seen <= {"JAX"}, seen


@pytest.mark.parametrize("text", [
    "Traceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n"
    "    import tensorflow as tf\nModuleNotFoundError: No module named 'tensorflow'",
    "RuntimeError: Error(s) in loading state_dict for Net: Missing key(s): \"fc.weight\"",
    "  File \"/opt/conda/lib/python3.10/site-packages/torch/nn/modules/module.py\", line 1501,"
    " in _call_impl\n    return forward_call(*args, **kwargs)",
])
def test_a_pytorch_paste_that_names_other_tools_is_not_taken_for_theirs(text: str) -> None:
    assert foreign_tool(text) == ""
