"""Notes run in the sandbox, in order, in one interpreter; claims judged (issue #17)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.notes.extract import read_note
from kb.notes.model import ClaimStatus, NoteResult
from kb.notes.run import NoteOptions, run_notes
from kb.sandbox import Sandbox

from .conftest import MARKDOWN, NOTEBOOK, TEXT, write

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")
SEEDS = Path(__file__).resolve().parent.parent / "data" / "seeds"

HOSTILE = """\
# A note whose blocks misbehave

```python
import torch
a = torch.arange(4)
a.shape  # torch.Size([4])
```

```python
b = a.view(3)   # raises
b.shape  # torch.Size([3])
```

```python
while True:
    pass
```

```python
secret = open("/etc/shadow").read()
```

```python
import socket
socket.create_connection(("example.com", 80))
```

```python
import d2l
from d2l import torch as d2l_torch
data = d2l_torch.load_data_fashion_mnist(256)
data.shape  # torch.Size([256])
```

```python
a.sum()  # tensor(6)
len(secret)  # 12
x = torch.cuda.FloatTensor(2)
x.shape  # torch.Size([2])
```

```python
torch.manual_seed(3)
r = torch.rand(2)
r  # tensor([0.1, 0.2])
torch.rand(2)  # tensor([0.5, 0.5])
```
"""

UNSEEDED = """\
```python
import torch
torch.randn(2)  # tensor([0.1000, 0.2000])
```
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NoteResult]]:
    tmp = tmp_path_factory.mktemp("notes")
    paths = {"md": write(tmp, "n.md", MARKDOWN), "ipynb": write(tmp, "n.ipynb", NOTEBOOK),
             "txt": write(tmp, "n.txt", TEXT), "hostile": write(tmp, "hostile.md", HOSTILE),
             "unseeded": write(tmp, "unseeded.md", UNSEEDED),
             "004": SEEDS / "004_d31c7e761ffad68e.txt"}
    options = NoteOptions(block_cpu_s=8.0, block_wall_s=60.0, jobs=2)
    with Sandbox() as sandbox:
        done = run_notes([read_note(p) for p in paths.values()], options, sandbox)
    yield dict(zip(paths, done, strict=True))


def statuses(result: NoteResult) -> list[tuple[int, str]]:
    return [(r.claim.line, r.status.value) for r in result.results]


def test_markdown_claims(results: dict[str, NoteResult]) -> None:
    r = results["md"]
    assert statuses(r) == [(9, "right"), (11, "wrong"), (19, "right"), (26, "right"),
                           (32, "wrong")]
    wrong = {c.claim.line: c.actual for c in r.results if c.status is ClaimStatus.WRONG}
    assert wrong == {11: "torch.Size([8, 16, 30, 30])", 32: "tensor(2.)"}


def test_notebook_saved_outputs_like_nbval(results: dict[str, NoteResult]) -> None:
    r = results["ipynb"]
    got = [(c.claim.expr, c.status.value, c.actual) for c in r.results]
    assert got == [("cell 2", "right", "torch.Size([2, 3])"),
                   ("cell 3", "wrong", "tensor(15)"),  # the saved output is stale
                   ("x.is_contiguous()", "wrong", "True"),
                   ("cell 4", "right", "True")]


def test_text_note_and_the_wrong_conv2d_shape(results: dict[str, NoteResult]) -> None:
    assert statuses(results["txt"]) == [(8, "wrong"), (12, "right")]
    assert results["txt"].results[0].actual == "torch.Size([16, 3, 217, 217])"


def test_seed_004(results: dict[str, NoteResult]) -> None:
    r = results["004"]
    wrong = [(c.claim.line, c.claim.expr, c.actual) for c in r.results
             if c.status is ClaimStatus.WRONG]
    assert wrong == [(85, "output_conv2d.shape", "torch.Size([256, 3, 217, 217])")]
    right = [c.claim.line for c in r.results if c.status is ClaimStatus.RIGHT]
    assert right == [70]
    unchecked = [c for c in r.results if c.status is ClaimStatus.UNCHECKED]
    assert len(unchecked) == 6 and all("'d2l'" in c.reason for c in unchecked)


def test_blocks_that_raise_loop_or_reach_out_are_contained(
        results: dict[str, NoteResult]) -> None:
    r = results["hostile"]
    by_line = {c.claim.line: c for c in r.results}
    assert by_line[6].status is ClaimStatus.RIGHT
    assert by_line[11].status is ClaimStatus.UNCHECKED and "'b'" in by_line[11].reason
    reasons = [f.reason for f in r.failures]
    assert any("RuntimeError" in x for x in reasons)
    assert any("ran out of time" in x for x in reasons)  # the loop is stopped, the rest runs
    assert any("FileNotFoundError" in x or "PermissionError" in x for x in reasons)
    assert any("needs the network" in x for x in reasons)
    assert "'d2l'" in by_line[32].reason
    assert by_line[36].status is ClaimStatus.RIGHT  # `a` survives `b = a.view(3)` failing
    assert by_line[37].status is ClaimStatus.UNCHECKED  # `secret` was never read
    assert by_line[39].status is ClaimStatus.UNCHECKED and "GPU" in by_line[39].reason
    # seeded by the note itself: wrong values are wrong
    assert by_line[45].status is ClaimStatus.WRONG and by_line[46].status is ClaimStatus.WRONG
    assert not r.error


def test_unseeded_random_values_are_unchecked(results: dict[str, NoteResult]) -> None:
    (c,) = results["unseeded"].results
    assert c.status is ClaimStatus.UNCHECKED and "random" in c.reason
