"""The GPU paths: `kb run --gpu`, `kb check --gpu` and the snippets that need CUDA.

Tests marked `gpu` need a CUDA GPU and are what `make check-gpu` adds on a machine
that has one; everywhere else they are skipped. The unmarked ones run everywhere: the
device plumbing and the skip reasons, as far as a CPU allows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache

import pytest

from kb.loader import load_entries

CUDA_NEEDS = ("cuda", "multi-gpu")


@cache
def cuda_available() -> bool:
    code = "import torch; print(torch.cuda.is_available())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    return done.stdout.strip() == "True"


def cuda_ids() -> list[str]:
    return sorted(e.id for e in load_entries().entries.values()
                  if any(r in CUDA_NEEDS for s in e.snippets for r in s.requires))


def kb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kb", *args], capture_output=True, text=True,
                          timeout=600, check=False, env={**os.environ, **(env or {})})


def test_there_are_cuda_snippets_to_run_on_a_gpu() -> None:
    assert len(cuda_ids()) >= 20


def test_without_gpu_flag_cuda_snippets_say_how_to_run_them() -> None:
    done = kb("check", "err-input-weight-type", "--json")
    results = {r["snippet"]: r for r in json.loads(done.stdout)["results"]}
    gpu = results["gpu-input-cpu-model"]
    assert gpu["status"] == "skipped"
    assert gpu["reason"] == "needs a GPU (cuda); run with --gpu on a machine that has one"


def test_with_gpu_flag_on_a_machine_without_one_cuda_snippets_are_skipped_never_passed() -> None:
    if cuda_available():
        pytest.skip("this machine has a GPU: the gpu-marked tests run the snippets")
    done = kb("check", "--gpu", "--json", *cuda_ids())
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    cuda = [r for r in report["results"] if r["status"] == "skipped"]
    assert cuda and all(r["reason"].startswith(("needs CUDA", "needs 2 or more GPUs",
                                                "needs nvidia-smi", "needs the Python module"))
                        for r in cuda), [r["reason"] for r in cuda]
    assert report["summary"]["failed"] == report["summary"]["error"] == 0


@pytest.mark.gpu
def test_every_cuda_snippet_passes_on_a_gpu() -> None:
    if not cuda_available():
        pytest.skip("no CUDA GPU here (make check-gpu runs this on a machine with one)")
    done = kb("check", "--gpu", *cuda_ids())
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.gpu
def test_cuda_visible_devices_is_kept_with_gpu() -> None:
    if not cuda_available():
        pytest.skip("no CUDA GPU here (make check-gpu runs this on a machine with one)")
    done = kb("run", "err-input-weight-type", "--snippet", "gpu-input-cpu-model", "--gpu",
              env={"CUDA_VISIBLE_DEVICES": "0"})
    assert done.returncode == 0, done.stdout[-3000:]
    hidden = kb("run", "err-input-weight-type", "--snippet", "gpu-input-cpu-model", "--gpu",
                "--json", env={"CUDA_VISIBLE_DEVICES": ""})
    (result,) = json.loads(hidden.stdout)["results"]
    assert result["status"] == "skipped" and "is_available() is False" in result["reason"]
