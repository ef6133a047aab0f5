"""What counts as a claim, and how claims are compared (issue #17)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.notes.claims import code_claims, compare, looks_like_output, squash
from kb.notes.model import ClaimKind


@pytest.mark.parametrize("text", [
    "torch.Size([2, 3])", "torch.Size([28,28])", "torch.int64", "False", "None", "9",
    "tensor([12, 15])", "tensor([[0.0000, 2.3864],\n[0.7122, 0.0000]])", "(2, 3)",
    "[1, 2, 3]", "tensor(2.5000, requires_grad=True)", "-0.5", "1e-05",
    "tensor([1., 2.], dtype=torch.float64)", "torch.Size([4, 10]) torch.int64",
])
def test_values_are_claims(text: str) -> None:
    assert looks_like_output(text)


@pytest.mark.parametrize("text", [
    "把 batch 维展平", "[batch,inchannel,heigth,width]", "[batch,channelheigthwidth]",
    "in_channels = 8,out_channels = 3", "dim=0", "13 = (16-4)/1 + 1", "x[1,1,2]和x[2,2,0]",
    "z对y的梯度,隐式调用backward()", "", "3 numbers", "torch.randn([minibatch,out_channels])",
    "TODO", "(N, C, H, W)", "2. 准备data_iter", "https://example.com/a.png",
])
def test_prose_is_not_a_claim(text: str) -> None:
    assert not looks_like_output(text)


def test_comment_claims_in_code() -> None:
    code = ("import torch\n"
            "x = torch.zeros(2, 3)  # torch.Size([2, 3])\n"       # an assignment: no claim
            "x.shape  # torch.Size([2, 3])\n"
            "x.flatten(1)  # 把 batch 维展平\n"
            "x.dtype # torch.float32\n"
            "print(x.sum())\n"
            "# tensor(0.)\n"
            "x.t()\n"
            "# tensor([[0., 0.],\n"
            "#         [0., 0.],\n"
            "#         [0., 0.]])\n")
    claims = code_claims(code, 0)
    assert [(c.kind, c.line, c.expr, c.claimed) for c in claims] == [
        (ClaimKind.VALUE, 3, "x.shape", "torch.Size([2, 3])"),
        (ClaimKind.VALUE, 5, "x.dtype", "torch.float32"),
        (ClaimKind.PRINT, 7, "print(x.sum())", "tensor(0.)"),
        (ClaimKind.VALUE, 9, "x.t()", "tensor([[0., 0.],\n        [0., 0.],\n        [0., 0.]])"),
    ]


def test_an_output_string_after_prints_is_a_claim() -> None:
    code = "print(1)\nprint(2)\n'''\n1\n2\n'''\n'''just a note: 把它展平'''\n"
    claims = code_claims(code, 0)
    assert [(c.kind, c.first, c.last, c.claimed) for c in claims] == [
        (ClaimKind.OUTPUT, 1, 2, "1\n2")]


@pytest.mark.parametrize("claimed, actual, ok", [
    ("torch.Size([28,28])", "torch.Size([28, 28])", True),
    ("torch.Size([128, 3, 14, 6])", "torch.Size([256, 3, 217, 217])", False),
    ("torch.Size([2, 3])", "torch.Size([3, 2])", False),
    ("[2, 3]", "torch.Size([2, 3])", True),
    ("(2, 3)", "torch.Size([2, 3])", True),
    ("[2, 4]", "torch.Size([2, 3])", False),
    ("tensor([0.7311, 0.7311])", "tensor([0.7311, 0.7311])", True),
    ("tensor([0.73, 0.88])", "tensor([0.7311, 0.8808])", True),
    ("tensor([0.73, 0.89])", "tensor([0.7311, 0.8808])", False),
    ("10", "tensor(10)", True),
    ("2.5", "tensor(2.5000)", True),
    ("11", "tensor(10)", False),
    ("True", "False", False),
    ("tensor([[1, 2],\n [3, 4]])", "tensor([[1, 2],\n        [3, 4]])", True),
    ("<Foo at 0x7f00deadbeef>", "<Foo at 0x7f11cafebabe>", True),
])
def test_compare(claimed: str, actual: str, ok: bool) -> None:
    assert compare(claimed, actual).ok is ok


shapes = st.lists(st.integers(0, 4096), max_size=6)


@given(shapes, st.lists(st.sampled_from(["", " ", "  ", "\n"]), min_size=12, max_size=12))
def test_shapes_equal_modulo_whitespace(dims: list[int], spaces: list[str]) -> None:
    real = f"torch.Size([{', '.join(map(str, dims))}])"
    pad = iter(spaces * 3)
    written = "torch.Size([" + ",".join(f"{next(pad)}{d}{next(pad)}" for d in dims) + "])"
    assert looks_like_output(written)
    assert compare(written, real).ok


@given(shapes, shapes)
def test_different_shapes_never_match(a: list[int], b: list[int]) -> None:
    if a != b:
        assert not compare(f"torch.Size({a})", f"torch.Size({b})").ok


@given(st.floats(-1e6, 1e6, allow_nan=False), st.integers(1, 6))
def test_a_float_matches_itself_rounded(value: float, decimals: int) -> None:
    assert compare(f"{value:.{decimals}f}", f"{value:.8f}").ok


@given(st.text(max_size=40))
def test_squash_is_idempotent_and_claims_never_crash(text: str) -> None:
    assert squash(squash(text)) == squash(text)
    looks_like_output(text)
    code_claims(text, 0)
