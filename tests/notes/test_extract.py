"""Notes -> blocks and claims, per format; bad input is a clear one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.notes.extract import NoteError, read_note
from kb.notes.model import ClaimKind

from .conftest import MARKDOWN, NOTEBOOK, TEXT, write

SEEDS = Path(__file__).resolve().parent.parent / "data" / "seeds"


def kinds(path: Path) -> list[tuple[ClaimKind, int, str]]:
    return [(c.kind, c.line, c.claimed) for c in read_note(path).claims]


def test_markdown_blocks_and_claims(tmp_path: Path) -> None:
    note = read_note(write(tmp_path, "n.md", MARKDOWN))
    assert len(note.blocks) == 3
    assert note.blocks[0].lines[0] == 6  # file lines, for file:line reports
    assert [(k, line) for k, line, _ in kinds(tmp_path / "n.md")] == [
        (ClaimKind.VALUE, 9), (ClaimKind.VALUE, 11), (ClaimKind.PRINT, 19),
        (ClaimKind.OUTPUT, 26), (ClaimKind.DOCTEST, 32)]
    assert note.headings[0][1:] == ("Shapes", "Conv2d keeps the batch and changes the channels.")


def test_notebook_cells_and_saved_outputs(tmp_path: Path) -> None:
    note = read_note(write(tmp_path, "n.ipynb", NOTEBOOK))
    assert [b.cell for b in note.blocks] == [1, 2, 3]
    assert note.blocks[0].code.startswith("pass\n")  # the magic is blanked
    claims = [(c.kind, c.claimed) for c in note.claims]
    assert claims == [(ClaimKind.CELL, "torch.Size([2, 3])\n"), (ClaimKind.CELL, "tensor(16)\n"),
                      (ClaimKind.VALUE, "False"), (ClaimKind.CELL, "True\n")]
    assert all(c.line > 1 for c in note.claims)  # lines of the JSON file


def test_text_code_runs_skip_prose(tmp_path: Path) -> None:
    note = read_note(write(tmp_path, "n.txt", TEXT))
    assert [b.lines[0] for b in note.blocks] == [3, 10]
    assert "把" not in note.blocks[0].code and "tensor是" not in note.blocks[0].code
    assert kinds(tmp_path / "n.txt") == [
        (ClaimKind.VALUE, 8, "torch.Size([128, 3, 14, 6])"),
        (ClaimKind.DOCTEST, 12, "tensor(4.)")]


def test_a_py_note_is_one_block(tmp_path: Path) -> None:
    note = read_note(write(tmp_path, "n.py", "import torch\ntorch.zeros(2).shape  # [2]\n"))
    assert len(note.blocks) == 1 and note.claims[0].claimed == "[2]"


@pytest.mark.parametrize("name, data, message", [
    ("bad.txt", b"ok\n\xff\xfe oops\n", "bad.txt:2: not UTF-8"),
    ("bad.ipynb", b'{"cells": [\n  {"cell_type": }\n]}',
     "bad.ipynb:2: not a notebook: invalid JSON"),
    ("old.ipynb", b'{"worksheets": []}', "old.ipynb:1: not a notebook"),
    ("bad.py", b"x = (\n", "bad.py:1: not valid Python"),
])
def test_bad_input_is_one_clear_line(tmp_path: Path, name: str, data: bytes,
                                     message: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(NoteError) as err:
        read_note(tmp_path / name)
    assert message in err.value.message and "\n" not in err.value.message


def test_seed_004_claims() -> None:
    path = SEEDS / "004_d31c7e761ffad68e.txt"
    if not path.exists():
        pytest.skip("seed notes not here")
    claims = {c.line: c.claimed for c in read_note(path).claims}
    assert claims[85] == "torch.Size([128, 3, 14, 6])"
    assert claims[32] == "torch.Size([28,28])"
