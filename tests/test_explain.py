"""`explain()`: from a pasted error to the entries that explain it, with a confidence and
hints in the user's own numbers. Entries are built here, so these tests do not move when
the built-in knowledge base grows."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.explain import THRESHOLD, explain
from kb.model import Entry, Hint, Zh


def error_entry(entry_id: str, title: str, patterns: tuple[str, ...], *,
                hints: tuple[Hint, ...] = (), examples: tuple[str, ...] = (),
                aliases: tuple[str, ...] = ()) -> Entry:
    return Entry(id=entry_id, kind="error", title=title, summary=f"{title}.",
                 source=Path(f"{entry_id}.yaml"), patterns=patterns, causes=("a cause",),
                 fix="a fix", hints=hints, examples=examples, aliases=aliases,
                 zh=Zh(title=f"{title}（中文）"))


CONV_MESSAGE = ("RuntimeError: Given groups=1, weight of size [24, 3, 3, 3], expected input[100, "
                "32, 32, 3] to have 3 channels, but got 32 channels instead")
NHWC_HINT = ("the layer expects 3 input channels; your input [100, 32, 32, 3] has 32 at dim 1 "
             "and 3 at its last dim: it is channels-last (NHWC); use x.permute(0, 3, 1, 2)")


CONV = error_entry(
    "err-conv-channels", "Conv2d: expected input to have N channels, but got M channels instead",
    (r"Given groups=(?P<groups>\d+), weight of size \[(?P<weight>[\d, ]+)\], expected "
     r"input\[(?P<input>[\d, ]+)\] to have (?P<expected>\d+) channels, but got (?P<got>\d+) "
     r"channels instead",),
    hints=(Hint(when="len(input) == 4 and input[-1] == expected",
                en="the layer expects {expected} input channels; your input [{input}] has {got} "
                   "at dim 1 and {expected} at its last dim: it is channels-last (NHWC); use "
                   "x.permute(0, 3, 1, 2)",
                zh="该层需要 {expected} 个输入通道；你的输入 [{input}] 是通道在后 (NHWC)"),
           Hint(when="not (len(input) == 4 and input[-1] == expected)",
                en="the layer was built with in_channels={expected} but your input has {got}")))
MAT = error_entry(
    "err-mat-shapes", "mat1 and mat2 shapes cannot be multiplied",
    (r"mat1 and mat2 shapes cannot be multiplied \((?P<mat1>\d+x\d+) and (?P<mat2>\d+x\d+)\)",
     r"size mismatch, m1: \[(?P<mat1>\d+ x \d+)\], m2: \[(?P<mat2>\d+ x \d+)\]"),
    hints=(Hint(when="mat1[1] != mat2[0]",
                en="the flattened input has {mat1[1]} features; the Linear layer expects "
                   "{mat2[0]}: use nn.Linear({mat1[1]}, ...)"),))
ASSERT = error_entry("err-device-side-assert", "CUDA error: device-side assert triggered",
                     (r"device-side assert triggered",))
TARGET = error_entry("err-target-out-of-bounds", "IndexError: Target N is out of bounds",
                     (r"Target (?P<target>-?\d+) is out of bounds",
                      r"Assertion `t >= 0 && t < n_classes` failed"))
EMBED = error_entry("err-index-out-of-range-embedding",
                    "IndexError: index out of range in self (nn.Embedding)",
                    (r"index out of range in self",),
                    examples=("IndexError: index out of range in self",),
                    aliases=("embedding index",))
OOM = error_entry("err-cuda-oom", "CUDA out of memory",
                  (r"CUDA out of memory\. Tried to allocate (?P<size>[\d.]+ [KMG]iB)",),
                  examples=("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB",))
VIEW = Entry(id="view-reshape", kind="api", title="Tensor.view and reshape", summary="s",
             source=Path("view-reshape.yaml"))
ENTRIES = {e.id: e for e in (CONV, MAT, ASSERT, TARGET, EMBED, OOM, VIEW)}


def ids(result) -> list[str]:
    return [m.entry.id for m in result.matches]


def test_the_conv_error_of_the_issue_is_explained_in_the_users_numbers():
    best = explain(CONV_MESSAGE, ENTRIES).matches[0]
    assert best.entry.id == "err-conv-channels" and best.score == 1.0 and best.how == "pattern"
    assert best.hints == (NHWC_HINT,)
    assert best.captures["input"] == [100, 32, 32, 3]


def test_the_mat1_mat2_error_of_the_issue_names_the_features_to_use():
    best = explain("RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)",
                   ENTRIES).matches[0]
    assert best.hints == ("the flattened input has 512 features; the Linear layer expects 256: use "
                          "nn.Linear(512, ...)",)


def test_the_old_thnn_wording_gets_the_same_hint():
    best = explain("RuntimeError: size mismatch, m1: [64 x 512], m2: [256 x 10] at "
                   "/pytorch/aten/src/TH/generic/THTensorMath.cpp:940", ENTRIES).matches[0]
    assert best.entry.id == "err-mat-shapes"
    assert best.hints[0].startswith("the flattened input has 512")


def test_hints_come_in_the_chosen_language():
    result = explain(CONV_MESSAGE, ENTRIES, lang="zh")
    assert result.matches[0].hints == (
        "该层需要 3 个输入通道；你的输入 [100, 32, 32, 3] 是通道在后 (NHWC)",)


def test_a_mangled_paste_still_matches_its_pattern():
    result = explain("RuntimeError：mat1 and mat2 shapes cannot be multiplied （64×512 and "
                     "256×10）", ENTRIES)
    assert ids(result)[0] == "err-mat-shapes" and result.matches[0].how == "pattern"


def test_a_message_wrapped_over_lines_is_joined_before_matching():
    result = explain(CONV_MESSAGE.replace("input[100, 32, ", "input[100, 32,\n"), ENTRIES)
    assert ids(result)[0] == "err-conv-channels" and result.matches[0].how == "pattern"


def test_a_cut_off_message_is_matched_with_less_confidence():
    result = explain(CONV_MESSAGE.replace("channels instead", "chan…"), ENTRIES)
    best = result.matches[0]
    assert best.entry.id == "err-conv-channels" and best.how == "truncated"
    assert THRESHOLD <= best.score < 1.0
    assert best.hints[0].startswith("the layer expects 3 input channels")


def test_the_cause_printed_before_an_asynchronous_cuda_error_comes_first():
    text = ("../aten/src/ATen/native/cuda/Loss.cu:240: block: [0,0,0], thread: [5,0,0] "
            "Assertion `t >= 0 && t < n_classes` failed.\n"
            "Traceback (most recent call last):\n  File \"t.py\", line 3, in <module>\n"
            "RuntimeError: CUDA error: device-side assert triggered\n"
            "CUDA kernel errors might be asynchronously reported at some other API call, so the "
            "stacktrace below might be incorrect.\n")
    assert ids(explain(text, ENTRIES))[:2] == ["err-target-out-of-bounds",
                                                "err-device-side-assert"]


def test_wording_alone_can_match_but_never_with_full_confidence():
    result = explain("cuda out of memory", ENTRIES)
    assert ids(result)[0] == "err-cuda-oom" and result.matches[0].score < 1.0


@pytest.mark.parametrize("text", [
    "TypeError: Cannot read properties of undefined (reading 'map')\n    at News.render (b.js:3:9)",
    'Exception in thread "main" java.lang.ClassNotFoundException: com.example.Main',
    "panic: runtime error: index out of range [5] with length 3\n\ngoroutine 1 [running]:",
    "thread 'main' panicked at src/main.rs:4:5:\nindex out of bounds: the len is 3 but the index "
    "is 5",
    "",
])
def test_an_unrelated_error_matches_nothing_and_gets_suggestions_only(text):
    result = explain(text, ENTRIES)
    assert not result.found and result.matches == ()
    assert all(m.score < THRESHOLD for m in result.nearest)


def test_only_error_entries_answer():
    assert "view-reshape" not in ids(explain("view reshape tensor", ENTRIES))


def test_limit_caps_the_matches():
    text = ("Assertion `t >= 0 && t < n_classes` failed.\n"
            "RuntimeError: CUDA error: device-side assert triggered\n")
    assert len(explain(text, ENTRIES, limit=1).matches) == 1


def test_a_user_entry_with_an_unsafe_pattern_is_skipped_not_hung():
    evil = error_entry("err-evil", "evil", (r"(\w+\s?)+!",))
    text = "a" * 5000
    result = explain(text, {**ENTRIES, "err-evil": evil})
    assert "err-evil" not in ids(result)
