"""The pattern `kb new --from-error` makes from one message (kb.explain.generalize).

Generated messages are pieces: words, numbers, quoted names, size lists and tuples,
NxM shapes and addresses. The pattern from one must compile, pass kb's own pattern
check, match it, match it again with other values in the changing pieces, and never
match a message whose words are different; the real pastes of the explain corpus
hold the same on real wordings.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.errors import UsageError
from kb.explain.error_text import extract
from kb.explain.generalize import MAX_LITERAL, generalize
from kb.explain.paste import join_lines
from kb.explain.patterns import check_pattern, literal_text, match
from kb.notes.drafts import pattern_for

CORPUS = Path(__file__).resolve().parent / "data" / "explain_corpus.yaml"

# Two vocabularies with no letter in common: a message of one never holds a word of the other.
WORDS_A = st.text("abcdefghijklm", min_size=2, max_size=9)
WORDS_B = st.text("nopqrstuvwxyz", min_size=2, max_size=9)
PUNCT = st.sampled_from([",", ":", ";", "=", ".", "!", "->"])
NAME = st.text(st.characters(blacklist_characters="'\"`", blacklist_categories=("Cs", "Cc")),
               min_size=1, max_size=20).filter(lambda s: " ".join(s.split()) == s)
NAME_B = st.text("nopqrstuvwxyz0123456789_ ./", min_size=1, max_size=20).filter(
    lambda s: " ".join(s.split()) == s)  # no letter of WORDS_A


def _value(kind: str, draw: st.DrawFn, names: st.SearchStrategy[str] = NAME) -> str:
    """One changing piece of a message, of this kind, drawn fresh."""
    ints = st.integers(0, 10**9)
    if kind == "int":
        return str(draw(ints))
    if kind == "negative":
        return str(-draw(st.integers(1, 10**6)))
    if kind == "decimal":
        return f"{draw(ints)}.{draw(st.integers(0, 99)):02d}"
    if kind == "quoted":
        return f"'{draw(names)}'"
    if kind == "dquoted":
        return '"' + draw(names) + '"'
    if kind == "bquoted":
        return f"`{draw(names)}`"
    if kind == "list":
        return "[" + ", ".join(map(str, draw(st.lists(ints, min_size=1, max_size=5)))) + "]"
    if kind == "tuple":
        return "(" + ", ".join(map(str, draw(st.lists(ints, min_size=2, max_size=5)))) + ")"
    if kind == "shape":
        dims = st.integers(0, 99_999)  # 0x123456 would be an address
        return "x".join(map(str, draw(st.lists(dims, min_size=2, max_size=4))))
    assert kind in ("address", "time")
    if kind == "time":
        n = draw(st.integers(0, 10**6))
        return f"20{n % 90 + 10}-0{n % 9 + 1}-1{n % 10} {n % 14 + 10}:{n % 50 + 10}:0{n % 10}," \
               f"{n % 900 + 100}"
    return f"0x7f{draw(st.integers(0, 2**40)):010x}"  # as CPython prints an object's


KINDS = ["int", "negative", "decimal", "quoted", "dquoted", "bquoted", "list", "tuple", "shape",
         "address", "time"]


@st.composite
def messages(draw: st.DrawFn, words: st.SearchStrategy[str] = WORDS_A,
             names: st.SearchStrategy[str] = NAME, filler: str = "abcdefghij"
             ) -> tuple[list[tuple[str, str]], str]:
    """(pieces, message): each piece (kind, text), kind "word" for the fixed text."""
    pieces: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(3, 14))):
        kind = draw(st.sampled_from(["word", "word", "word", "punct", *KINDS]))
        text = draw(words) if kind == "word" else draw(PUNCT) if kind == "punct" \
            else _value(kind, draw, names)
        pieces.append((kind, text))
    letters = sum(len(t) for k, t in pieces if k == "word")
    if letters < 8:
        pieces.append(("word", filler))  # enough fixed text to be told apart
    return pieces, " ".join(t for _, t in pieces)


def again(pieces: list[tuple[str, str]], draw: st.DrawFn) -> str:
    """The same message with new values in every changing piece."""
    return " ".join(_value(k, draw) if k in KINDS else t for k, t in pieces)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_pattern_compiles_matches_its_message_and_the_same_with_other_values(
        data: st.DataObject) -> None:
    pieces, message = data.draw(messages())
    found = generalize(message)
    assert check_pattern(found.pattern) is None
    regex = re.compile(found.pattern)
    assert regex.search(message)
    for _ in range(3):
        other = again(pieces, data.draw)
        assert regex.search(other), (found.pattern, other)
    if len(message) <= MAX_LITERAL:  # every changing piece is a group, named once
        assert [text for _, text in found.groups] == [
            t.strip("'\"`") if k.endswith("quoted") else t for k, t in pieces if k in KINDS]
    assert len({name for name, _ in found.groups}) == len(found.groups)
    assert all(name.isidentifier() for name, _ in found.groups)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_pattern_never_matches_a_message_of_other_words(data: st.DataObject) -> None:
    pieces, message = data.draw(messages())
    _, unrelated = data.draw(messages(WORDS_B, NAME_B, "nopqrstuvw"))
    pattern = generalize(message).pattern
    assert not re.search(pattern, unrelated)
    # ... nor the message with one of its words changed (a different error, same shape)
    # (a letter inside the word: "abc" is still in "abcz"; the pattern must cover the word)
    words = [i for i, (k, t) in enumerate(pieces) if k == "word" and len(t) >= 3]
    if words and len(message) <= MAX_LITERAL:
        i = data.draw(st.sampled_from(words))
        word = pieces[i][1]
        changed = [*pieces[:i], ("word", word[0] + "z" + word[2:]), *pieces[i + 1:]]
        assert not re.search(pattern, " ".join(t for _, t in changed))


def test_group_names_say_what_the_value_is() -> None:
    found = generalize("Given groups=1, weight of size [64, 3, 3, 3], expected input[1, 32, 32, 3]"
                       " to have 3 channels, but got 32 channels instead")
    assert found.pattern == (
        r"Given groups=(?P<groups>\d+), weight of size \[(?P<size>[-\d, ]+)\], expected "
        r"input\[(?P<input>[-\d, ]+)\] to have (?P<n1>\d+) channels, but got (?P<got>\d+) "
        r"channels instead")
    found = generalize("module 'torch' has no attribute 'zero'")
    assert found.pattern == (r"module '(?P<module>[^'\n]+)' has no attribute "
                             r"'(?P<attribute>[^'\n]+)'")
    found = generalize("[2023-12-08 01:40:46,962] torch.distributed.elastic: [ERROR] failed "
                       "(exitcode: -9) local_rank: 0 (pid: 1322)")
    assert found.groups == (("time1", "2023-12-08 01:40:46,962"), ("exitcode", "-9"),
                            ("local_rank", "0"), ("pid", "1322"))
    found = generalize("'unexpected key \"module.layer.0.weight\" in state_dict'")  # KeyError's
    assert found.pattern == "'unexpected key \"(?P<key>[^\"\\n]+)\" in state_dict'"
    found = generalize("mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)")
    assert found.pattern == (r"mat1 and mat2 shapes cannot be multiplied "
                             r"\((?P<shape1>\d+(?:x\d+)+) and (?P<shape2>\d+(?:x\d+)+)\)")
    assert found.groups == (("shape1", "64x512"), ("shape2", "256x10"))


def test_apostrophes_and_versions_stay_literal_or_whole() -> None:
    found = generalize("view size is not compatible with input tensor's size and stride; "
                       "torch 2.13.0 can't do it")
    assert "tensor's size" in found.pattern and "can't" in found.pattern
    assert found.groups == (("torch", "2.13.0"),)


def test_a_long_message_keeps_its_beginning() -> None:
    message = "CUDA out of memory. Tried to allocate 20.00 MiB. " + "word " * 200 + "end"
    found = generalize(message)
    assert len(found.pattern) < MAX_LITERAL + 200
    assert re.search(found.pattern, message)


@pytest.mark.parametrize("message", ["", "   ", "'x' 3 [1, 2]", "42", "0x7f: 'abc'"])
def test_too_little_fixed_text_is_a_usage_error(message: str) -> None:
    with pytest.raises(UsageError, match="too little fixed text"):
        generalize(message)


# ---------------------------------------------------------------- real pastes


@cache
def corpus() -> list[dict[str, str]]:
    with CORPUS.open(encoding="utf-8") as f:
        return list(yaml.safe_load(f))


def _matches(pattern: str, text: str) -> bool:
    return any(match(pattern, t) for s in extract(text).segments for t in (s.text,
                                                                           join_lines(s.text)))


def _fixed(pattern: str) -> str:
    return "".join(literal_text(pattern).split())


def _final(text: str) -> tuple[str, ...]:
    """What a user calls the error in a paste: its final exception (else its first part)."""
    error = extract(text)
    first = next((s.text for s in error.segments if s.origin == "final exception"),
                 error.segments[0].text)
    return first, join_lines(first)


def test_each_real_paste_gives_a_pattern_that_matches_it_and_no_other_wording() -> None:
    """A pattern matches the error of another entry's paste only when that error says the
    same with other values (`module 'numpy' has no attribute 'float'` and `module
    'torch' ...`, which built-in entries tell apart by the name): the other's own
    pattern then holds this one's fixed text."""
    items = corpus()
    made: dict[int, str] = {}
    for n, item in enumerate(items):
        found, example = pattern_for(extract(item["text"]))
        made[n] = found.pattern
        assert any(match(found.pattern, t) for s in extract(item["text"]).segments
                   for t in (s.text, join_lines(s.text))), (found.pattern, item["text"])
        assert example.endswith(found.message)
    wrong = [(pattern, other["text"][:80]) for n, pattern in made.items()
             for k, other in enumerate(items) if other["id"] != items[n]["id"]
             and any(match(pattern, t) for t in _final(other["text"]))
             and _fixed(pattern) not in _fixed(made[k])]
    assert not wrong, wrong[:5]
