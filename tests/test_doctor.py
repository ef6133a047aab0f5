"""kb doctor: the facts of a machine -> the problems, each naming the entry that explains
it. Other machines are fed in as facts (and as nvidia-smi outputs, tests/data/nvidia-smi);
this machine is checked through the CLI, with a fake nvidia-smi on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from kb.doctor import NOTE, PROBLEM, Driver, Facts, diagnose, parse_nvidia_smi
from kb.loader import load_entries
from kb.model import Entry

SMI = Path(__file__).resolve().parent / "data" / "nvidia-smi"


@cache
def entries() -> dict[str, Entry]:
    return load_entries().entries


def smi(name: str, returncode: int = 0) -> Driver:
    return parse_nvidia_smi((SMI / name).read_text(encoding="utf-8"), returncode)


def facts(torch: dict[str, Any] | None, driver: Driver, **more: Any) -> Facts:
    return Facts(python="3.11.7", executable="/env/bin/python", torch=torch, driver=driver,
                 **more)


def findings(f: Facts) -> list[tuple[str, str | None]]:
    return [(x.severity, x.entry) for x in diagnose(f, entries())]


CPU_TORCH = {"version": "2.13.0+cpu", "cuda": None, "cuda_available": False}
CU124 = {"version": "2.5.1+cu124", "cuda": "12.4", "cuda_available": True,
         "arch_list": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
         "devices": [{"name": "NVIDIA A100-SXM4-40GB", "capability": [8, 0]}]}


def test_nvidia_smi_header_and_gpus_are_read() -> None:
    a100 = smi("a100-550.txt")
    assert (a100.version, a100.cuda, a100.error) == ("550.54.15", "12.4", None)
    assert a100.gpus == ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB")
    t4 = smi("t4-470.txt")
    assert (t4.version, t4.cuda, t4.gpus) == ("470.182.03", "11.4", ("Tesla T4",))


def test_a_failing_nvidia_smi_is_explained_by_its_entry() -> None:
    no_driver = smi("no-driver.txt", returncode=9)
    assert no_driver.error and no_driver.error.startswith("NVIDIA-SMI has failed")
    assert (PROBLEM, "err-nvidia-smi-driver") in findings(facts(CPU_TORCH, no_driver))
    mismatch = smi("nvml-mismatch.txt", returncode=18)
    assert (PROBLEM, "err-nvml-driver-mismatch") in findings(facts(CU124, mismatch))


def test_a_cpu_only_torch_on_a_gpu_server() -> None:
    assert findings(facts(CPU_TORCH, smi("a100-550.txt"))) == [(PROBLEM, "err-torch-no-cuda")]


def test_a_cpu_machine_without_a_driver_has_no_problem() -> None:
    assert findings(facts(CPU_TORCH, Driver(found=False))) == []


def test_a_driver_older_than_the_torch_build() -> None:
    old = dict(CU124, cuda_available=False, devices=[])
    got = findings(facts(old, smi("t4-470.txt")))
    assert (PROBLEM, "err-cuda-driver-insufficient") in got
    # same major version: minor-version compatibility, a note rather than a problem
    newer = dict(CU124, cuda="12.6")
    assert findings(facts(newer, smi("a100-550.txt"))) == [
        (NOTE, "err-cuda-driver-insufficient")]


def test_a_working_gpu_machine_has_no_problem() -> None:
    assert findings(facts(CU124, smi("a100-550.txt"))) == []


def test_hidden_gpus_name_cuda_visible_devices() -> None:
    hidden = dict(CU124, cuda_available=False, devices=[])
    got = findings(facts(hidden, smi("a100-550.txt"), cuda_visible_devices=""))
    assert got == [(PROBLEM, "cuda-visible-devices")]


def test_a_gpu_the_build_has_no_kernels_for() -> None:
    blackwell = dict(CU124, devices=[{"name": "NVIDIA GeForce RTX 5090", "capability": [12, 0]}])
    assert (PROBLEM, "err-no-kernel-image") in findings(facts(blackwell, smi("a100-550.txt")))
    ptx = dict(blackwell, arch_list=[*CU124["arch_list"], "compute_90"])
    assert findings(facts(ptx, smi("a100-550.txt"))) == []


def test_torch_that_does_not_import_and_missing_modules() -> None:
    f = facts(None, Driver(found=False), torch_error="ModuleNotFoundError: No module named "
              "'torch'", modules={"PIL": False, "tqdm": True})
    got = diagnose(f, entries())
    assert [(x.severity, x.entry) for x in got] == [(PROBLEM, "err-module-not-found-torch"),
                                                   (NOTE, None)]
    assert "PIL (pip install pillow)" in got[1].what and "tqdm" not in got[1].what


def _kb(args: list[str], path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-m", "kb", *args], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


def test_doctor_here_through_the_cli(tmp_path: Path) -> None:
    """This machine as it is, then with a fake nvidia-smi that shows an A100: torch here
    is the CPU build, so doctor must name err-torch-no-cuda and exit 1."""
    plain = _kb(["doctor", "--json"], os.environ["PATH"])
    report = json.loads(plain.stdout)
    assert report["torch"]["version"].startswith(__import__("torch").__version__.split("+")[0])
    assert report["python"] == sys.version.split()[0]
    assert set(report) >= {"kb", "driver", "isolation", "modules", "findings"}
    if __import__("torch").version.cuda is not None:
        pytest.skip("a CUDA build of torch: the fake driver below proves nothing")
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\ncat '{SMI / 'a100-550.txt'}'\n")
    fake.chmod(0o755)
    faked = _kb(["doctor"], f"{tmp_path}:{os.environ['PATH']}")
    assert faked.returncode == 1, faked.stderr
    assert "550.54.15, supports CUDA <= 12.4" in faked.stdout
    assert "-> kb show err-torch-no-cuda" in faked.stdout
    assert "Traceback" not in faked.stderr
