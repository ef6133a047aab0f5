"""kb.expect: how a snippet's stdout is compared with its `expect` (docs/entry-format.md)."""

from __future__ import annotations

import string
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kb.expect import check_raises, compare, line_matches, normalise
from kb.model import Raises

# printable lines without the ellipsis itself and without trailing whitespace
_chars = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\r")
lines = st.text(alphabet=_chars, max_size=40).map(str.rstrip).filter(lambda s: "..." not in s)
outputs = st.lists(lines, max_size=8)
# blank lines at the ends vanish in normalising, on both sides alike
solid = st.lists(lines.filter(str.strip), max_size=8)
shapes = st.lists(st.integers(0, 4096), min_size=0, max_size=5)


def size(dims: list[int]) -> str:
    return f"torch.Size([{', '.join(map(str, dims))}])"


# ---------------------------------------------------------------- plain text


@given(outputs)
def test_any_output_matches_itself(out: list[str]) -> None:
    text = "\n".join(out) + "\n"
    assert compare(text, text).ok


@given(outputs, st.text(alphabet=" \t", max_size=3), st.integers(0, 3))
def test_trailing_whitespace_and_blank_lines_are_ignored(out: list[str], ws: str,
                                                          blank: int) -> None:
    text = "\n".join(out)
    assert compare(text, "\n".join(line + ws for line in out) + "\n" * blank).ok


@given(outputs, lines)
def test_an_extra_line_fails(out: list[str], extra: str) -> None:
    assume(extra.strip())
    assert not compare("\n".join(out), "\n".join([*out, extra])).ok


def test_no_expect_means_no_output() -> None:
    assert compare(None, "").ok and compare(None, "\n  \n").ok
    result = compare(None, "surprise\n")
    assert not result.ok and result.reason == "printed output; expected nothing"


def test_a_failure_carries_a_unified_diff() -> None:
    result = compare("a\nb\n", "a\nc\n")
    assert not result.ok
    assert "-b" in result.diff and "+c" in result.diff and result.diff.startswith("--- expected")


# ---------------------------------------------------------------- ellipsis


@given(solid, outputs, solid)
def test_a_line_of_dots_matches_any_run_of_lines(head: list[str], middle: list[str],
                                                  tail: list[str]) -> None:
    expected = "\n".join([*head, "...", *tail])
    assert compare(expected, "\n".join([*head, *middle, *tail])).ok


@given(lines, lines, lines)
def test_dots_in_a_line_match_any_text_in_that_line(a: str, b: str, c: str) -> None:
    assume("torch.Size" not in b and "(" not in b)
    # dots next to the ellipsis make "...." ambiguous (doctest's too): not this property
    assume(not a.endswith(".") and not c.startswith("."))
    assert line_matches(f"{a}...{c}", f"{a}{b}{c}")


def test_dots_in_a_line_stay_in_that_line() -> None:
    assert not compare("a...z", "a\nz").ok
    assert compare("<object at 0x...>\ndone", "<object at 0x7f3a>\ndone").ok


def test_dots_in_the_output_are_matched_too() -> None:
    # torch itself prints "..." when it summarises a big tensor
    assert compare("tensor([0, 1, ..., 9])", "tensor([0, 1, 2, ..., 9])").ok


def reference_match(want: list[str], got: list[str]) -> bool:
    """The rule as written, tried every way (exponential: small inputs only)."""
    if not want:
        return not got
    if want[0].strip() == "...":
        return any(reference_match(want[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and line_matches(want[0], got[0]) and reference_match(want[1:], got[1:])


# few distinct lines, so that runs repeat and a greedy placement has choices to get wrong
WANT_LINES = st.sampled_from(["a", "b", "a b", "...", " ... ", "a...", "...b", "",
                              "torch.Size([2, 3])", "torch.Size([...])"])
GOT_LINES = st.sampled_from(["a", "b", "a b", "ab", "", "...", "torch.Size([2, 3])"])


@settings(max_examples=500)
@given(st.lists(WANT_LINES, max_size=7), st.lists(GOT_LINES, max_size=9))
def test_lines_match_as_the_rule_says(want: list[str], got: list[str]) -> None:
    expected, actual = "\n".join(want), "\n".join(got)
    assert compare(expected, actual).ok == reference_match(normalise(expected),
                                                           normalise(actual))


def test_long_outputs_compare_in_linear_time() -> None:
    """A snippet may print up to 256 KiB: tens of thousands of short lines."""
    same = "x\n" * 20_000
    start = time.perf_counter()
    assert compare(same, same).ok
    assert not compare(same, same + "y\n").ok
    # a `...` line among them: each run of lines is tried once per place
    assert compare("x\n" * 50 + "...\n" + "x\n" * 50 + "...\n" + "y", same + "y").ok
    assert not compare("...\n" + "x\n" * 50 + "y\n...\nz", same + "y").ok
    assert time.perf_counter() - start < 5  # the table of every split took minutes


# ---------------------------------------------------------------- shapes


@given(shapes, shapes)
def test_shapes_compare_exactly(want: list[int], got: list[int]) -> None:
    assert compare(size(want), size(got)).ok == (want == got)


@given(shapes, shapes, st.floats(0.01, 1e6))
def test_a_tolerance_never_bends_a_shape(want: list[int], got: list[int], tol: float) -> None:
    assume(want != got)
    assert not compare(size(want), size(got), tol).ok
    if len(want) > 1 and len(got) > 1:
        assert not compare(str(tuple(want)), str(tuple(got)), tol).ok


@given(shapes.filter(lambda d: len(d) > 0))
def test_dots_never_stand_for_a_shape(dims: list[int]) -> None:
    result = compare("shape: ...", f"shape: {size(dims)}")
    assert not result.ok
    assert "shapes are compared exactly" in result.reason
    assert not compare(f"torch.Size([{dims[0]}, ...])", size([*dims, 7])).ok


def test_dots_may_surround_a_shape_written_out() -> None:
    assert compare("... torch.Size([2, 3]) ...", "x torch.Size([2, 3]) y").ok
    assert compare("...\ntorch.Size([2, 3])", "torch.Size([9])\ntorch.Size([2, 3])").ok


def test_a_differing_shape_is_named_in_the_reason() -> None:
    result = compare("torch.Size([2, 3])\n", "torch.Size([3, 2])\n")
    assert result.reason == "shape differs: expected torch.Size([2, 3]), got torch.Size([3, 2])"


# ---------------------------------------------------------------- tolerance


@given(st.floats(-1e4, 1e4, allow_nan=False), st.floats(1e-6, 1e-1),
       st.floats(-0.99, 0.99))
def test_floats_within_the_tolerance_match(value: float, tol: float, frac: float) -> None:
    want = f"loss: {value:.4f}"
    # within the absolute tolerance (the smaller of the two allowances)
    got = f"loss: {value + frac * tol * 0.9:.8f}"
    assume(abs(float(got.split()[1]) - float(f"{value:.4f}")) <= tol)
    assert compare(want, got, tol).ok


@given(st.floats(-1e3, 1e3, allow_nan=False), st.floats(1e-6, 1e-2))
def test_floats_beyond_the_tolerance_fail(value: float, tol: float) -> None:
    far = value + 3 * tol * max(1.0, abs(value)) + 1e-3
    assert not compare(f"{value:.6f}", f"{far:.6f}", tol).ok


def test_without_a_tolerance_numbers_are_text() -> None:
    assert not compare("0.1000", "0.1001").ok
    assert compare("0.1000", "0.1001", 1e-3).ok


def test_integers_are_exact_even_with_a_tolerance() -> None:
    assert not compare("count: 10", "count: 11", 0.5).ok
    assert compare("tensor([0.5000, 2.0000])", "tensor([0.5001, 2.0000])", 1e-3).ok


def test_nan_and_inf_with_a_tolerance() -> None:
    assert compare("tensor([nan, inf])", "tensor([nan, inf])", 1e-3).ok
    assert not compare("tensor([nan])", "tensor([1.])", 1e-3).ok


# ---------------------------------------------------------------- raises


@pytest.mark.parametrize("declared, exc_type, message, problem", [
    (Raises("RuntimeError", r"expected input\[1, 3\]"), "RuntimeError",
     "expected input[1, 3] to have", None),
    (Raises("torch.OutOfMemoryError", "out of memory"), "OutOfMemoryError",
     "CUDA out of memory", None),
    (Raises("RuntimeError", ""), "RuntimeError", "anything", None),
    (Raises("RuntimeError", "x"), None, None,
     "expected RuntimeError to be raised; the snippet ended without it"),
    (Raises("RuntimeError", "x"), "ValueError", "bad value\nmore",
     "expected RuntimeError, got ValueError: bad value"),
    (Raises("IndexError", "out of range"), "IndexError", "index 5 is out of bounds",
     "IndexError message does not match 'out of range': index 5 is out of bounds"),
    (Raises("IndexError", "(unclosed"), "IndexError", "x", "raises.match is not a valid regex"),
    # the same error worded by another CPU path: either wording passes, a third does not
    (Raises("RuntimeError", r"Input type \(CPUBFloat16Type\)", ("scalar type BFloat16",)),
     "RuntimeError", "expected scalar type BFloat16 but found Float", None),
    (Raises("RuntimeError", r"Input type \(CPUBFloat16Type\)", ("scalar type BFloat16",)),
     "RuntimeError", "Input type (CPUBFloat16Type) and weight type", None),
    (Raises("RuntimeError", "Input type", ("scalar type BFloat16",)), "RuntimeError",
     "mat1 and mat2", "RuntimeError message does not match 'Input type' or "
                      "'scalar type BFloat16': mat1 and mat2"),
])
def test_check_raises(declared: Raises, exc_type: str | None, message: str | None,
                      problem: str | None) -> None:
    got = check_raises(declared, exc_type, message)
    if problem is None:
        assert got is None
    else:
        assert got is not None and got.startswith(problem)


def test_normalise() -> None:
    assert normalise("a  \nb\t\n\n\n") == ["a", "b"]
    assert normalise(None) == [] and normalise("") == []
    assert normalise("\nx") == ["", "x"]


@given(st.text(alphabet=string.printable, max_size=200))
def test_compare_never_crashes(text: str) -> None:
    compare(text, text[::-1], 0.01)
