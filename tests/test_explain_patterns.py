"""Entry patterns: captures become values, cut-off messages still match, and no pattern
(ours or a user's) can backtrack for ever."""

from __future__ import annotations

import functools
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.explain.patterns import (
    check_pattern,
    compiled,
    literal_text,
    match,
    match_truncated,
    required_start,
    to_value,
)
from kb.loader import load_entries
from kb.model import Entry

CONV = (r"Given groups=(?P<groups>\d+), weight of size \[(?P<weight>[\d, ]+)\], expected "
        r"input\[(?P<input>[\d, ]+)\] to have (?P<expected>\d+) channels, but got "
        r"(?P<got>\d+) channels instead")
MESSAGE = ("RuntimeError: Given groups=1, weight of size [24, 3, 3, 3], expected input[100, 32, "
           "32, 3] to have 3 channels, but got 32 channels instead")


@contextmanager
def must_finish(seconds: int) -> Iterator[None]:
    """Fail instead of hanging when matching backtracks without end (a guard, not a timing:
    CPython's regex engine checks for signals while it runs)."""
    def hung(*_: object) -> None:
        raise AssertionError(f"matching did not finish in {seconds} s: catastrophic backtracking")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("text, value", [
    ("100, 32, 32, 3", [100, 32, 32, 3]),
    ("64x512", [64, 512]),
    ("64 x 256", [64, 256]),
    ("[2, 4]", [2, 4]),
    ("(2 x 2)", [2, 2]),
    ("torch.Size([16, 1])", [16, 1]),
    ("[5]", [5]),
    ("5", 5),
    ("-1", -1),
    ("2.00", "2.00"),
    ("cuda:0", "cuda:0"),
    ("Long", "Long"),
    ("", ""),
])
def test_captures_become_lists_of_ints_ints_or_text(text, value):
    assert to_value(text) == value


def test_a_whole_match_returns_every_capture_as_a_value():
    found = match(CONV, MESSAGE)
    assert found is not None and found.coverage == 1.0
    assert found.captures == {"groups": 1, "weight": [24, 3, 3, 3], "input": [100, 32, 32, 3],
                              "expected": 3, "got": 32}


@pytest.mark.parametrize("cut", ["chann", "channels, but got 32 chan...",
                                 "channels, but got 32 chan…"])
def test_a_message_cut_off_at_the_end_still_matches_its_pattern(cut):
    text = MESSAGE[:MESSAGE.index("channels")] + cut
    found = match_truncated(CONV, text.replace("…", "..."))
    assert found is not None and 0.5 < found.coverage < 1.0
    assert found.captures["input"] == [100, 32, 32, 3]


def test_a_capture_that_reaches_the_cut_is_dropped_it_may_itself_be_cut():
    text = "Given groups=1, weight of size [24, 3, 3, 3], expected input[100, 32"
    found = match_truncated(CONV, text)
    assert found is not None
    assert "input" not in found.captures and found.captures["weight"] == [24, 3, 3, 3]


def test_a_different_message_with_the_same_beginning_is_not_a_cut_off_one():
    pattern = (r"Expected all tensors to be on the same device, but found at least two devices, "
               r"(?P<a>\S+) and (?P<b>\S+)!")
    other = ("Expected all tensors to be on the same device, but got index is on cpu, different "
             "from other tensors on cuda:0 (when checking argument for argument index)")
    assert match_truncated(pattern, other) is None


def test_too_short_a_beginning_is_not_enough():
    assert match_truncated(CONV, "Given groups=1") is None


def test_literal_text_is_the_words_a_pattern_spells_out():
    assert literal_text(CONV) == ("Given groups= , weight of size [ ], expected input[ ] to have "
                                  "channels, but got channels instead")


@pytest.mark.parametrize("pattern", [
    r"(\w+\s?)+x",
    r"([\d, ]+)+\]",
    r"(?:\s*\d+)+;",
    r"(a|aa)*(?:b+)+c",
    r"(?:.*,)*end",
])
def test_nested_quantifiers_that_can_split_text_many_ways_are_refused(pattern):
    problem = check_pattern(pattern)
    assert problem is not None and "backtrack exponentially" in problem
    assert compiled(pattern) is None  # explain skips it; kb lint says why


@pytest.mark.parametrize("pattern", [
    r"\[(?P<w>\d+(?:, \d+)*)\]",  # a separator each repetition must cross
    r"(?:\w+ )*end",
    r"(?:[a-z]+\.)*[a-z]+",
    r"(?>\w+\s?)+x",  # atomic group: never backtracks into itself
    r"(?:\w+\s?)++x",  # possessive
    CONV,
])
def test_linear_patterns_pass(pattern):
    assert check_pattern(pattern) is None


def test_invalid_patterns_say_where():
    problem = check_pattern("(?P<a>\\d+")
    assert problem is not None
    assert "not a valid regular expression" in problem and "position" in problem


@functools.cache
def _builtin_entries() -> dict[str, Entry]:
    return load_entries().entries  # once: entries may change on disk while the tests run


@functools.cache
def _builtin_patterns() -> list[str]:
    return sorted({p for e in _builtin_entries().values() for p in e.patterns})


def test_every_builtin_pattern_is_valid_and_linear():
    problems = [check_pattern(p) for p in _builtin_patterns()]
    assert [p for p in problems if p] == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_builtin_pattern_backtracks_on_adversarial_text(data):
    patterns = _builtin_patterns()
    pattern = data.draw(st.sampled_from(patterns))
    fragments = [f for f in re.split(r"\s+", literal_text(pattern)) if f] or ["x"]
    piece = data.draw(st.lists(st.sampled_from([*fragments, "1", "1, ", " ", "x", "[", "(", "-"]),
                               min_size=1, max_size=8).map("".join))
    text = piece * data.draw(st.integers(50, 400))
    with must_finish(20):
        match(pattern, text[:4000])
        match_truncated(pattern, text[:4000])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_explain_returns_on_megabytes_of_adversarial_log(data):
    from kb.explain import explain

    entries = _builtin_entries()
    fragments = sorted({f for p in _builtin_patterns() for f in re.split(r"\s+", literal_text(p))
                        if f})
    line = data.draw(st.lists(st.sampled_from([*fragments, "1", "[2, 3]", "Error:", "\t", "…"]),
                              min_size=1, max_size=30).map(" ".join))
    log = (line + "\n") * (2 * 1024 * 1024 // (len(line) + 1) + 1)
    with must_finish(60):
        explain(log + line * 200, entries)


PIECES = st.sampled_from(["a", "b", "ab", " ", "x", r"\d+", "[ab]", "a?", "b*", "(a|b)", "(?:ab)+",
                          r"\.", ".", "|", "(?i)", "^", "c{2}", r"\(", "(?P<n>b)"])


@settings(max_examples=400, deadline=None)
@given(pattern=st.lists(PIECES, max_size=6).map("".join),
       text=st.text(alphabet="abcxAB1. (", max_size=12))
def test_a_text_without_the_required_start_never_matches(pattern: str, text: str) -> None:
    try:
        regex = re.compile(pattern)
    except re.error:
        return
    if regex.search(text):
        assert required_start(pattern) in text


def test_every_builtin_example_contains_its_patterns_required_start() -> None:
    for entry in load_entries().entries.values():
        for pattern in entry.patterns:
            for example in entry.examples:
                if re.search(pattern, example):
                    assert required_start(pattern) in example, (entry.id, pattern)
