"""Small notes of each format, written by tests."""

from __future__ import annotations

import json
from pathlib import Path

MARKDOWN = """\
# Shapes

Conv2d keeps the batch and changes the channels.

```python
import torch
from torch import nn
x = torch.zeros(8, 3, 32, 32)
x.shape  # torch.Size([8, 3, 32, 32])
y = nn.Conv2d(3, 16, 3)(x)
y.shape  # torch.Size([8, 16, 32, 32])
x.flatten(1).shape  # 把 batch 维展平
```

## Printing

```python
print(torch.arange(3))
# tensor([0, 1, 2])
print(x.dtype)
```

Output:

```
tensor([0, 1, 2])
torch.float32
```

```pycon
>>> torch.ones(2).sum()
tensor(3.)
```
"""


def notebook(cells: list[tuple[str, str, list[dict[str, object]]]]) -> str:
    """A notebook as Jupyter writes it (indent 1, sorted keys)."""
    nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    for kind, source, outputs in cells:
        cell: dict[str, object] = {"cell_type": kind, "id": f"c{len(nb['cells'])}",
                                   "metadata": {},
                                   "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell["execution_count"] = None
            cell["outputs"] = outputs
        nb["cells"].append(cell)  # type: ignore[attr-defined]
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def result(text: str) -> dict[str, object]:
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {},
            "data": {"text/plain": text.splitlines(keepends=True)}}


def stream(text: str) -> dict[str, object]:
    return {"output_type": "stream", "name": "stdout", "text": text.splitlines(keepends=True)}


NOTEBOOK = notebook([
    ("markdown", "# Views\n\nA view shares memory.\n", []),
    ("code", "%matplotlib inline\nimport torch\nx = torch.arange(6)\nx.view(2, 3).shape\n",
     [result("torch.Size([2, 3])")]),
    ("code", "print(x.sum())\n", [stream("tensor(16)\n")]),  # stale: it is 15
    ("code", "x.is_contiguous()  # False\n", [result("True")]),
])

TEXT = """\
随手记：卷积的输出形状
把 batch 维展平
import torch
from torch import nn
input_conv2d = torch.randn([16,3,227,227])
m_conv2d = nn.Conv2d(3,3,kernel_size=(11,11))
output_conv2d = m_conv2d(input_conv2d)
output_conv2d.shape # torch.Size([128, 3, 14, 6])
tensor是[28,1,28,28] #[batch,inchannel,heigth,width]
>>> a = torch.ones(2, 2)
>>> a.sum()
tensor(4.)
可视化
"""


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path
