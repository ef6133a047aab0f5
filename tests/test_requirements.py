"""What a snippet needs, read from its code: imports beyond the stdlib, torch and numpy."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.model import Snippet
from kb.requirements import imported_modules, install_hint, needs, third_party


def test_imports_are_read_from_the_code() -> None:
    code = ("import os, json\nimport PIL.Image as I\nfrom tqdm.auto import tqdm\n"
            "from torch.utils.tensorboard import SummaryWriter\nimport torch.nn as nn\n"
            "import numpy as np\nfrom . import sibling\n")
    assert imported_modules(code) == ("os", "json", "PIL", "tqdm", "tensorboard", "torch",
                                      "numpy")
    assert third_party(code) == ("PIL", "tqdm", "tensorboard")


def test_torch_parts_that_need_a_package_of_their_own() -> None:
    assert third_party("from torch.utils import tensorboard") == ("tensorboard",)
    assert third_party("import torch.utils.tensorboard.summary") == ("tensorboard",)
    assert third_party("from torch.utils import data") == ()


def test_imports_inside_functions_count_but_guarded_ones_do_not() -> None:
    code = ("def f():\n    import matplotlib.pyplot as plt\n"
            "try:\n    import cv2\nexcept (ImportError, AttributeError):\n    cv2 = None\n"
            "try:\n    import yaml\nexcept ValueError:\n    pass\n")
    assert third_party(code) == ("matplotlib", "yaml")


def test_a_module_the_snippet_writes_itself_is_not_a_need() -> None:
    code = "open('helper.py', 'w').write('X = 1')\nimport helper\nprint(helper.X)\n"
    assert third_party(code) == ()


def test_declared_modules_are_not_added_twice() -> None:
    s = Snippet("a", "from PIL import Image\nimport tqdm", requires=("module:PIL", "network"))
    assert needs(s) == ("module:PIL", "network", "module:tqdm")
    assert needs(Snippet("b", "import tqdm", lang="sh")) == ()


def test_install_hints_use_the_pip_name() -> None:
    assert install_hint("PIL") == "pip install pillow"
    assert install_hint("tqdm") == "pip install tqdm"


@given(st.text(max_size=200))
def test_any_text_is_read_without_raising(code: str) -> None:
    for module in third_party(code):
        assert module not in sys.stdlib_module_names
        assert module not in ("torch", "numpy")


def test_a_module_requirement_may_name_a_least_version() -> None:
    from kb.requirements import module_requirement

    assert module_requirement("module:pip>=25.3") == ("pip", (25, 3))
    assert module_requirement("module:PIL") == ("PIL", None)
    with pytest.raises(ValueError):
        module_requirement("module:pip>=")
