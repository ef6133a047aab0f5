"""Where the error happened in the user's own code, and the user's names in the answer.

Tracebacks here are real: produced by running real code (torch in a subprocess for
the layer cases), or kept from a real run (docs/examples/mat1-traceback.txt).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from kb.cli import app
from kb.explain import explain
from kb.explain.frames import Frame, frames, line_names, user_frame
from kb.loader import load_entries

ROOT = Path(__file__).resolve().parent.parent
MAT1 = (ROOT / "docs" / "examples" / "mat1-traceback.txt").read_text(encoding="utf-8")


def run_script(tmp_path: Path, files: dict[str, str], main: str) -> str:
    """The traceback a real run of `main` prints."""
    for name, code in files.items():
        (tmp_path / name).write_text(textwrap.dedent(code), encoding="utf-8")
    done = subprocess.run([sys.executable, main], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def entries() -> dict:
    return load_entries().entries


def test_the_innermost_user_frame_of_a_real_traceback(tmp_path: Path) -> None:
    text = run_script(tmp_path, {
        "lib_like.py": "import json\ndef load(s):\n    return json.loads(s)\n",
        "main.py": "from lib_like import load\nvalue = load('{bad')\n",
    }, "main.py")
    frame = user_frame(text)
    assert frame is not None
    # json's own frames are the stdlib's: the user's last frame is lib_like.py's
    assert frame.path.endswith("lib_like.py") and frame.line == 3 and frame.func == "load"
    assert frame.source == "return json.loads(s)"
    assert [f.user for f in frames(text)][:2] == [True, True]


def test_the_mat1_answer_names_the_users_layer(entries: dict) -> None:
    result = explain(MAT1, entries)
    assert result.frame is not None and result.frame.where().endswith("model.py:13")
    assert result.frame.layer == "linear"
    best = result.matches[0]
    assert best.entry.id == "err-mat-shapes"
    assert best.captures["frame_call"] == "self.fc"
    assert "`self.fc = nn.Linear(7200, 10)`" in best.hints[0]


def test_a_real_nhwc_conv_error_names_the_users_tensor(tmp_path: Path, entries: dict) -> None:
    text = run_script(tmp_path, {"main.py": """\
        import torch
        conv = torch.nn.Conv2d(3, 8, 3)
        images = torch.zeros(4, 32, 32, 3)
        out = conv(images)
        """}, "main.py")
    best = explain(text, entries).matches[0]
    assert best.entry.id == "err-conv-channels"
    assert "`images = images.permute(0, 3, 1, 2)` before `conv(images)`" in best.hints[0]
    zh = explain(text, entries, lang="zh").matches[0]
    assert "images = images.permute(0, 3, 1, 2)" in zh.hints[0]


def test_without_the_layers_frames_no_name_is_guessed(entries: dict) -> None:
    # only the user's frame was pasted: nothing shows the call reached a Linear
    text = ('  File "model.py", line 13, in forward\n    return self.fc(x.view(x.size(0), -1))\n'
            "RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x7200 and 512x10)\n")
    best = explain(text, entries).matches[0]
    assert best.captures["frame_call"] == "self.fc" and "frame_layer" not in best.captures
    assert "self.fc =" not in " ".join(best.hints)
    assert "nn.Linear(7200, 10)" in best.hints[0]  # the hint without names still answers


@pytest.mark.parametrize(("source", "carets", "names"), [
    ("out = conv(images)", None,
     {"frame_target": "out", "frame_call": "conv", "frame_arg": "images"}),
    ("return self.fc(x.view(x.size(0), -1))", None, {"frame_call": "self.fc"}),
    # two layers on one line and no carets: which one failed is not known
    ("return self.fc2(self.fc1(x))", None, {}),
    # ... the carets say it
    ("return self.fc2(self.fc1(x))", (16, 27), {"frame_call": "self.fc1", "frame_arg": "x"}),
    ("loss = criterion(model(x), y)", None, {"frame_target": "loss"}),
    ("x = torch.cat([a, b], dim=1)", None, {"frame_target": "x"}),
    ("print(len(x))", None, {}),
    ("for batch in loader:", None, {}),
    ("out = model(", None, {"frame_target": "out", "frame_call": "model"}),
    ("if self.gate(x) > 0:", None, {"frame_call": "self.gate", "frame_arg": "x"}),
])
def test_line_names_only_when_the_line_leaves_no_doubt(
        source: str, carets: tuple[int, int] | None, names: dict[str, str]) -> None:
    assert line_names(Frame("m.py", 1, "f", source, carets)) == names


def test_ipython_frames_are_read() -> None:
    text = textwrap.dedent("""\
        ---------------------------------------------------------------------------
        RuntimeError                              Traceback (most recent call last)
        Cell In[7], line 3
              1 conv = nn.Conv2d(3, 8, 3)
              2 images = torch.zeros(4, 32, 32, 3)
        ----> 3 out = conv(images)

        File ~/.venv/lib/python3.11/site-packages/torch/nn/modules/module.py:1778, in CALL
        -> 1778     return self._call_impl(*args, **kwargs)

        RuntimeError: Given groups=1, weight of size [8, 3, 3, 3], expected input[4, 32, 32, 3] \
        to have 3 channels, but got 32 channels instead
        """).replace("CALL", "Module._wrapped_call_impl(self, *args, **kwargs)")
    frame = user_frame(text)
    assert frame is not None
    assert (frame.path, frame.line, frame.source) == ("Cell In[7]", 3, "out = conv(images)")


def test_a_worker_error_points_at_the_datasets_frame() -> None:
    text = textwrap.dedent("""\
        Traceback (most recent call last):
          File "/home/u/train.py", line 40, in <module>
            for batch in loader:
          File "/home/u/SITE/torch/utils/data/dataloader.py", line 1480, in _next_data
            return self._process_data(data)
        ValueError: Caught ValueError in DataLoader worker process 0.
        Original Traceback (most recent call last):
          File "/home/u/SITE/torch/utils/data/_utils/worker.py", line 349, in _worker_loop
            data = fetcher.fetch(index)
          File "/home/u/data.py", line 21, in __getitem__
            label = int(row["label"])
        ValueError: invalid literal for int() with base 10: 'cat'
        """).replace("SITE", ".venv/lib/python3.11/site-packages")
    frame = user_frame(text)
    assert frame is not None and frame.path == "/home/u/data.py" and frame.line == 21


@given(st.text(max_size=400))
def test_frames_never_fail_on_any_text(text: str) -> None:
    found = user_frame(text)
    if found is not None:
        line_names(found)


def test_the_short_answer_shows_the_frame_and_fits_a_screen() -> None:
    result = CliRunner().invoke(app, ["explain", "--file", str(ROOT / "docs" / "examples" /
                                                              "mat1-traceback.txt")],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2].startswith("At ") and lines[2].endswith("return self.fc(x.view(x.size(0), -1))")
    assert "Causes" not in result.stdout and len(lines) <= 12
    full = CliRunner().invoke(app, ["explain", "--full", "--file",
                                    str(ROOT / "docs" / "examples" / "mat1-traceback.txt")])
    assert "Causes, most likely first:" in full.stdout and "At " in full.stdout


def test_short_answers_of_the_corpus_stay_short(entries: dict) -> None:
    """At 80 columns: most answers about 12 lines, none past 20 (both languages)."""
    import yaml

    from kb.render.blocks import plain_lines
    from kb.render.explain import _layout

    corpus = yaml.safe_load((ROOT / "tests" / "data" / "explain_corpus.yaml")
                            .read_text(encoding="utf-8"))
    counts = []
    for item in corpus[::2]:
        for lang in ("en", "zh"):
            result = explain(item["text"], entries, lang=lang)
            if result.matches:
                lines = plain_lines(_layout(result, False), 80)
                if lines is not None:
                    counts.append(len(lines))
    counts.sort()
    assert len(counts) > 200
    assert counts[len(counts) // 2] <= 13 and counts[-1] <= 20, counts[-10:]


def test_why_names_the_pattern_captures_and_candidates() -> None:
    result = CliRunner().invoke(app, ["explain", "--why", "--file",
                                      str(ROOT / "docs" / "examples" / "mat1-traceback.txt")],
                                env={"COLUMNS": "200"})
    out = result.stdout
    assert "err-mat-shapes  pattern 1 of 3 matched the final exception:" in out
    assert "captured: mat1=64, 7200; mat2=512, 10" in out
    assert "worked out: " in out and "frame_call=self.fc" in out and "frame_layer=linear" in out
    assert "* 1.00  err-mat-shapes  matched" in out
    assert "below 0.50: a suggestion only" in out  # the runners-up, and why they were left


def test_why_shows_how_fuzzy_wording_read_a_misspelt_message() -> None:
    text = ("RuntimeError: Expectd all tensers to be on the same devise, "
            "but found at least two devices")
    out = CliRunner().invoke(app, ["explain", "--why", text], env={"COLUMNS": "200"}).stdout
    assert "read as: " in out and "->" in out


@pytest.mark.parametrize(("name", "args"), [
    ("mat1-traceback", []), ("mat1-traceback", ["--lang", "zh"]),
    ("mat1-traceback", ["--full"]), ("conv-nhwc", []), ("conv-nhwc", ["--lang", "zh"]),
    ("conv-nhwc", ["--why"]),
])
def test_saved_answers(name: str, args: list[str], golden) -> None:
    """The answers to two real tracebacks, in English and Chinese, short, full and --why."""
    path = ROOT / "tests" / "data" / "tracebacks" / f"{name}.txt"
    result = CliRunner().invoke(app, ["explain", *args, "--file", str(path)],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    golden(f"explain-{name}{''.join(args).replace('-', '_')}.txt", result.stdout)


def test_a_fullgraph_graph_break_is_read_as_the_final_exception(entries: dict) -> None:
    """torch._dynamo.exc.Unsupported does not end like an exception class; its message,
    not the `from user code:` lines after it, is the error (a real torch 2.13 run)."""
    from kb.explain.error_text import extract

    text = (ROOT / "tests" / "data" / "tracebacks" / "dynamo-data-dependent.txt").read_text(
        encoding="utf-8")
    error = extract(text)
    assert error.exc_type == "torch._dynamo.exc.Unsupported"
    assert error.message.startswith("Data-dependent branching Explanation: Detected")
    result = explain(text, entries)
    assert result.frame is not None and result.frame.source == "if x.sum() > 0:"
    assert result.matches[0].entry.id == "err-dynamo-unsupported"


def test_for_one_entry_a_pattern_match_beats_its_wording(entries: dict) -> None:
    """A one-line paste matches the entry's pattern only in the tail (0.8); its wording
    scores higher, but the pattern's captures (here the registry's text) must stay."""
    best = explain("torch._dynamo.exc.Unsupported: Data-dependent branching",
                   entries).matches[0]
    assert best.entry.id == "err-dynamo-unsupported" and best.how == "pattern"
    assert best.captures["gb_type"] == "Data-dependent branching"


@pytest.mark.parametrize(("path", "user"), [
    ("/home/u/proj/train.py", True), ("/home/u/bin/train.py", True), ("model.py", True),
    ("Cell In[3]", True), ("<stdin>", True),
    ("/home/u/.venv/bin/torchrun", False),  # a console script launching the user's code
    ("/usr/local/bin/accelerate", False),
    ("/home/u/.venv/lib/python3.11/site-packages/torch/nn/modules/conv.py", False),
    ("/usr/lib/python3.11/json/decoder.py", False), ("<frozen runpy>", False),
    (r"C:\Users\u\anaconda3\Lib\site-packages\torch\serialization.py", False),
])
def test_which_files_are_the_users(path: str, user: bool) -> None:
    assert Frame(path, 1, "", "").user is user
