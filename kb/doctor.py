"""kb doctor: what decides whether snippets (and training) run on this machine, and
the entry that explains each problem found.

"Works here, fails there" is what users hit: a CPU-only torch on a GPU server, a
driver older than the torch build, nvidia-smi broken after an upgrade. The facts are
gathered in two places at once, so the whole takes about one `import torch`:
torch's own view from the interpreter snippets run in (a job in the sandbox, with the
GPUs visible), and the driver's view from nvidia-smi. `diagnose` is a pure function of
those facts, so tests feed it whatever machine they like.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kb
from kb.model import Entry
from kb.record import asdict, field, record
from kb.requirements import install_hint, module_requirement, needs

PROBLEM, NOTE = "problem", "note"
NVIDIA_SMI_TIMEOUT_S = 15.0

# Runs where snippets run; prints one JSON line. Never fails: a missing torch is a fact.
_PROBE = r"""
import importlib.util, json, sys
out = {"python": sys.version.split()[0], "executable": sys.executable, "modules": {}}
for name in MODULES:
    try:
        out["modules"][name] = importlib.util.find_spec(name) is not None
    except Exception:
        out["modules"][name] = False
try:
    import torch
except Exception as exc:
    out["torch_error"] = f"{type(exc).__name__}: {exc}"
else:
    t = out["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda,
                        "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    try:
        t["mkldnn_bf16"] = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        pass
    if torch.version.cuda:
        t["arch_list"] = torch.cuda.get_arch_list()
        t["cudnn"] = torch.backends.cudnn.version()
    try:
        t["cuda_available"] = torch.cuda.is_available()
    except Exception as exc:
        t["cuda_available"], t["cuda_error"] = False, f"{type(exc).__name__}: {exc}"
    if t["cuda_available"]:
        t["devices"] = [{"name": torch.cuda.get_device_name(i),
                         "capability": list(torch.cuda.get_device_capability(i))}
                        for i in range(torch.cuda.device_count())]
print(json.dumps(out))
"""


@record
class Finding:
    severity: str  # PROBLEM: something will fail; NOTE: worth knowing
    what: str  # one line
    entry: str | None = None  # the entry that explains it (kb show ID)


@record
class Driver:
    """What nvidia-smi says, or why it could not say it."""

    found: bool  # nvidia-smi is on PATH
    version: str | None = None
    cuda: str | None = None  # the newest CUDA this driver supports (not what is installed)
    gpus: tuple[str, ...] = ()
    error: str | None = None  # its message when it failed


@record
class Facts:
    python: str
    executable: str
    torch: Mapping[str, Any] | None  # None: torch does not import (see torch_error)
    driver: Driver
    modules: Mapping[str, bool] = field(default_factory=dict)  # snippets' modules: installed?
    torch_error: str | None = None
    isolation: str | None = None  # the sandbox's, as `kb check` prints it
    isolation_strong: bool = True
    cuda_visible_devices: str | None = None


@record
class Report:
    kb: str
    facts: Facts
    findings: tuple[Finding, ...]

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == PROBLEM)

    def to_json(self) -> dict[str, Any]:
        return {"kb": self.kb, **asdict(self.facts),
                "findings": [asdict(f) for f in self.findings]}


# ---------------------------------------------------------------- gathering


def doctor(entries: Mapping[str, Entry]) -> Report:
    """Gather the facts (torch in the sandbox and nvidia-smi at once) and diagnose them."""
    modules = snippet_modules(entries.values())
    with ThreadPoolExecutor(max_workers=1) as pool:
        driver = pool.submit(read_driver)
        probe, isolation, strong = _probe_torch(modules)
        facts = Facts(
            python=probe.get("python", sys.version.split()[0]),
            executable=probe.get("executable", sys.executable),
            torch=probe.get("torch"), torch_error=probe.get("torch_error"),
            modules=probe.get("modules", {}), driver=driver.result(),
            isolation=isolation, isolation_strong=strong,
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))
    return Report(kb.__version__, facts, tuple(diagnose(facts, entries)))


def snippet_modules(entries: Sequence[Entry] | Any) -> list[str]:
    """Every module the snippets need, declared or imported, sorted."""
    return sorted({module_requirement(n)[0].split(".")[0] for e in entries for s in e.snippets
                   for n in needs(s) if n.startswith("module:")})


def _probe_torch(modules: Sequence[str]) -> tuple[dict[str, Any], str | None, bool]:
    """The probe's facts, run as a snippet (with --gpu) so they are what snippets see;
    in a plain subprocess of the same Python if the sandbox cannot start."""
    from kb.errors import KbError
    from kb.sandbox import Job, Limits, Sandbox

    code = f"MODULES = {list(modules)!r}\n{_PROBE}"
    try:
        with Sandbox(gpu=True) as sandbox:
            isolation = sandbox.isolation()
            for outcome in sandbox.run([Job(0, "doctor", "python", code,
                                            Limits(timeout_s=120), gpu=True)]):
                facts = _last_json(outcome.stdout)
                if facts:
                    return facts, isolation.describe(), isolation.strong
    except (KbError, OSError):
        pass
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    return _last_json(done.stdout) or {}, None, False


def _last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        return data if isinstance(data, dict) else None
    return None


def read_driver() -> Driver:
    """nvidia-smi's header (driver and CUDA version) and GPU list, or its error."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return Driver(found=False)
    try:
        done = subprocess.run([command], capture_output=True, text=True,
                              timeout=NVIDIA_SMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Driver(found=True, error=f"nvidia-smi did not answer: {exc}")
    return parse_nvidia_smi(done.stdout + done.stderr, done.returncode)


_DRIVER = re.compile(r"Driver Version:\s*(?P<v>[\d.]+)")
_CUDA = re.compile(r"CUDA Version:\s*(?P<v>[\d.]+)")
_GPU_ROW = re.compile(r"^\|\s+\d+\s+(?P<name>.+?)\s+(?:On|Off)\s+\|", re.MULTILINE)


def parse_nvidia_smi(output: str, returncode: int = 0) -> Driver:
    driver, cuda = _DRIVER.search(output), _CUDA.search(output)
    if returncode != 0 or driver is None:
        message = next((line.strip() for line in output.splitlines() if line.strip()), "")
        return Driver(found=True, error=message or f"nvidia-smi exited with {returncode}")
    gpus = tuple(m["name"] for m in _GPU_ROW.finditer(output))
    return Driver(found=True, version=driver["v"], cuda=cuda["v"] if cuda else None, gpus=gpus)


# ---------------------------------------------------------------- diagnosis


def diagnose(facts: Facts, entries: Mapping[str, Entry]) -> list[Finding]:
    """The problems (and notes) these facts show, each naming the entry that explains it;
    only entries that exist are named."""
    found: list[Finding] = []

    def add(severity: str, what: str, entry: str | None = None) -> None:
        found.append(Finding(severity, what, entry if entry in entries else None))

    torch, driver = facts.torch, facts.driver
    if torch is None:
        add(PROBLEM, f"torch does not import in {facts.executable}: {facts.torch_error}",
            "err-module-not-found-torch")
    if driver.error:
        add(PROBLEM, f"nvidia-smi fails: {driver.error}", _explaining(driver.error, entries))
    if torch is not None:
        _diagnose_torch(torch, facts, add)
    if not facts.isolation_strong:
        add(NOTE, "the sandbox has only weak isolation here"
                  + (f" ({facts.isolation})" if facts.isolation else "")
                  + "; snippets still run, with rlimits and a scrubbed environment")
    missing = sorted(m for m, ok in facts.modules.items() if not ok)
    if missing:
        add(NOTE, "snippets that use these modules are skipped: "
                  + ", ".join(f"{m} ({install_hint(m)})" for m in missing))
    return found


def _diagnose_torch(torch: Mapping[str, Any], facts: Facts, add: Any) -> None:
    driver, build = facts.driver, torch.get("cuda")
    if build is None:
        if driver.version:
            add(PROBLEM, f"torch {torch['version']} is a CPU-only build, but this machine has "
                         f"an NVIDIA driver ({driver.version}); install a CUDA build",
                "err-torch-no-cuda")
        return
    if driver.cuda and _older(driver.cuda, build):
        if driver.cuda.split(".")[0] != build.split(".")[0]:
            add(PROBLEM, f"the driver {driver.version} supports CUDA up to {driver.cuda}, "
                         f"older than the CUDA {build} torch was built with",
                "err-cuda-driver-insufficient")
        else:
            add(NOTE, f"the driver supports CUDA {driver.cuda}, torch was built with {build}: "
                      "minor-version compatibility runs most code; update the driver if "
                      "kernels fail to load", "err-cuda-driver-insufficient")
    if not torch.get("cuda_available") and driver.version:
        hidden = facts.cuda_visible_devices is not None and facts.cuda_visible_devices.strip() in (
            "", "-1", "none", "NoDevFiles")
        if hidden:
            add(PROBLEM, f"CUDA_VISIBLE_DEVICES={facts.cuda_visible_devices!r} hides every GPU",
                "cuda-visible-devices")
        else:
            why = torch.get("cuda_error") or "torch.cuda.is_available() is False"
            add(PROBLEM, f"torch {torch['version']} (CUDA {build}) finds no GPU: {why}",
                "err-torch-no-cuda")
    arch = set(torch.get("arch_list") or ())
    for device in torch.get("devices") or ():
        major, minor = device["capability"]
        if arch and f"sm_{major}{minor}" not in arch and not any(
                a.startswith("compute_") and int(a[8:]) <= major * 10 + minor for a in arch):
            add(PROBLEM, f"{device['name']} (sm_{major}{minor}) is not among the GPUs this torch "
                         f"build has kernels for ({', '.join(sorted(arch))})",
                "err-no-kernel-image")


def _older(a: str, b: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".") if p.isdigit())
    return key(a) < key(b)


def _explaining(message: str, entries: Mapping[str, Entry]) -> str | None:
    from kb.explain import explain

    matches = explain(message, entries).matches
    return matches[0].entry.id if matches else None
