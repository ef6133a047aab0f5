"""The hint language of docs/entry-format.md: `when` conditions and `{expr}` templates,
evaluated by a whitelist walker over the AST (never eval)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.explain.hints import (
    HintError,
    check_condition,
    check_template,
    evaluate,
    fill_template,
    render_hints,
)
from kb.model import Hint

CONV = {"groups": 1, "weight": [24, 3, 3, 3], "input": [100, 32, 32, 3], "expected": 3, "got": 32}


# ---------------------------------------------------------------- what the spec allows


@pytest.mark.parametrize("expr, value", [
    ("input[-1] == expected", True),
    ("len(input) == 4 and input[-1] == expected", True),
    ("not (len(input) == 4 and input[-1] == expected)", False),
    ("input[1] != expected", True),
    ("got // expected", 10),
    ("weight[0] * weight[1] + 1 - 2", 71),
    ("expected < got <= 32", True),
    ("expected > got or groups >= 1", True),
    ("'NHWC' == 'NHWC'", True),
    ("input[0]", 100),
    ("len(weight)", 4),
    ("-input[1]", -32),
])
def test_conditions_use_the_documented_operations(expr, value):
    assert check_condition(expr) is None
    assert evaluate(expr, CONV) == value


def test_the_conv_hint_of_the_issue_is_filled_with_the_users_numbers():
    hint = Hint(
        when="len(input) == 4 and input[-1] == expected",
        en="the layer expects {expected} input channels; your input [{input}] has {got} at dim 1 "
           "and {expected} at its last dim: it is channels-last (NHWC); use x.permute(0, 3, 1, 2)",
        zh="该层需要 {expected} 个输入通道；你的输入 [{input}] 第 1 维是 {got}")
    assert render_hints([hint], CONV, "en") == [
        "the layer expects 3 input channels; your input [100, 32, 32, 3] has 32 at dim 1 and 3 at "
        "its last dim: it is channels-last (NHWC); use x.permute(0, 3, 1, 2)"]
    assert render_hints([hint], CONV, "zh") == [
        "该层需要 3 个输入通道；你的输入 [100, 32, 32, 3] 第 1 维是 32"]


def test_a_list_prints_comma_separated_and_expressions_fill_templates():
    assert fill_template("[{weight}] has {len(weight)} dims, {weight[0] // 8} groups of 8",
                         CONV) == "[24, 3, 3, 3] has 4 dims, 3 groups of 8"


def test_doubled_braces_are_literal_braces():
    assert fill_template("{{not an expression}} {got}", CONV) == "{not an expression} 32"


def test_a_hint_without_when_always_applies():
    assert render_hints([Hint(en="always {got}")], CONV, "en") == ["always 32"]


def test_a_hint_in_chinese_falls_back_to_english_when_it_has_no_zh():
    assert render_hints([Hint(en="english {got}")], CONV, "zh") == ["english 32"]


def test_a_hint_whose_names_were_not_captured_is_skipped():
    hints = [Hint(en="uses {missing}"), Hint(when="missing > 1", en="x"), Hint(en="kept")]
    assert render_hints(hints, CONV, "en") == ["kept"]


@pytest.mark.parametrize("expr", [
    "input[10]",  # past the end
    "got // 0",  # division by zero
    "input < 3",  # a list ordered against a number
    "len(got)",  # len of a number
    "got[0]",  # indexing a number
    "'a' * 3",  # * on text
])
def test_a_hint_whose_expression_fails_on_these_values_is_skipped(expr):
    with pytest.raises(HintError):
        evaluate(expr, CONV)
    assert render_hints([Hint(when=expr, en="x"), Hint(en="{" + expr + "}")], CONV, "en") == []


def test_numbers_and_lists_cannot_grow_without_bound():
    big = {"n": 10**17, "xs": list(range(6000))}
    with pytest.raises(HintError):
        evaluate("n * n", big)
    with pytest.raises(HintError):
        evaluate("xs + xs", big)


# ---------------------------------------------------------------- what it refuses, for lint


@pytest.mark.parametrize("expr, says", [
    ("__import__('os').system('true')", "a call other than len"),
    ("input.count(3)", "a call other than len"),
    ("got.real", "Attribute"),
    ("input[1:3]", "a slice"),
    ("got ** 2", "Pow"),
    ("got in input", "In"),
    ("got is None", "Is"),
    ("lambda: 1", "Lambda"),
    ("[1, 2]", "List"),
    ("1.5 > got", "1.5"),
    ("len(input, 1)", "a call other than len"),
    ("(x := 3)", "NamedExpr"),
    ("got if got else 1", "IfExp"),
])
def test_anything_beyond_the_documented_language_is_refused_with_a_reason(expr, says):
    problem = check_condition(expr)
    assert problem is not None and says in problem
    assert "'when'" in problem and "allowed:" in problem


def test_syntax_errors_say_where():
    problem = check_condition("input[0] ==")
    assert problem is not None and "not a valid expression" in problem and "column" in problem


@pytest.mark.parametrize("text, says", [
    ("unbalanced {got", "without its '}'"),
    ("unbalanced got}", "without its '{'"),
    ("empty {} here", "empty"),
    ("call {open('x')}", "a call other than len"),
])
def test_templates_are_checked_the_same_way(text, says):
    problem = check_template(text)
    assert problem is not None and says in problem


def test_valid_templates_and_empty_conditions_pass():
    assert check_template("plain text") is None
    assert check_template("[{input}] and {{braces}} {len(input) - 1}") is None
    assert check_condition("") is None
    assert check_condition("   ") is None


# ---------------------------------------------------------------- never more than HintError

names = st.sampled_from(["input", "got", "expected", "weight", "nope", "len"])
atoms = st.one_of(names, st.integers(-5, 40).map(str), st.just("'s'"))
ops = st.sampled_from([" + ", " - ", " * ", " // ", " == ", " != ", " < ", " >= ", " and ",
                       " or ", "[", "(", ")", "]", " not ", "len(", "**", ".", ":", ","])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(atoms, ops), min_size=1, max_size=12).map("".join))
def test_any_expression_either_evaluates_or_raises_hint_error(expr):
    problem = check_condition(expr)
    try:
        evaluate(expr, CONV)
    except HintError:
        pass
    else:
        assert problem is None
    fill = "{" + expr.replace("{", "").replace("}", "") + "}"
    with contextlib.suppress(HintError):
        fill_template(fill, CONV)
