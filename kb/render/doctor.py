"""`kb doctor` -> text (facts, then what was found) or JSON."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from kb.doctor import PROBLEM, Report


def render_doctor(console: Console, report: Report) -> None:
    f, torch, driver = report.facts, report.facts.torch, report.facts.driver
    rows = [("kb", report.kb), ("python", f"{f.python}  ({f.executable})")]
    if torch is None:
        rows.append(("torch", f"does not import: {f.torch_error}"))
    else:
        build = f"CUDA {torch['cuda']} build" if torch.get("cuda") else "CPU-only build"
        rows.append(("torch", f"{torch['version']}  ({build})"))
        rows.append(("cuda available", str(bool(torch.get("cuda_available")))))
        for i, device in enumerate(torch.get("devices") or ()):
            major, minor = device["capability"]
            rows.append((f"gpu {i}", f"{device['name']}  (sm_{major}{minor})"))
        if torch.get("cudnn"):
            rows.append(("cudnn", str(torch["cudnn"])))
        cpu = torch.get("cpu_capability", "?")
        if "mkldnn_bf16" in torch:
            cpu += f", oneDNN bfloat16 {'yes' if torch['mkldnn_bf16'] else 'no'}"
        rows.append(("cpu kernels", cpu))
    if not driver.found:
        rows.append(("nvidia driver", "none (no nvidia-smi on PATH)"))
    elif driver.error:
        rows.append(("nvidia driver", f"nvidia-smi fails: {driver.error}"))
    else:
        supports = f", supports CUDA <= {driver.cuda}" if driver.cuda else ""
        rows.append(("nvidia driver", f"{driver.version}{supports}"))
        rows.extend((f"nvidia-smi gpu {i}", name) for i, name in enumerate(driver.gpus))
    if f.cuda_visible_devices is not None:
        rows.append(("CUDA_VISIBLE_DEVICES", repr(f.cuda_visible_devices)))
    rows.append(("sandbox", f.isolation or "could not start; facts from a plain subprocess"))
    present = [m for m, ok in sorted(f.modules.items()) if ok]
    absent = [m for m, ok in sorted(f.modules.items()) if not ok]
    rows.append(("snippet modules", f"installed: {', '.join(present) or 'none'}; "
                                    f"missing: {', '.join(absent) or 'none'}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        line = Text(f"{key:<{width}}  ", style="bold")
        line.append(value)
        console.print(line, soft_wrap=True)
    console.print()
    if not report.findings:
        console.print(Text("no problems found", style="green"))
    for finding in report.findings:
        style = "red" if finding.severity == PROBLEM else "yellow"
        line = Text(f"{finding.severity}: ", style=style)
        line.append(finding.what)
        if finding.entry:
            line.append(f"  -> kb show {finding.entry}", style="bold")
        console.print(line, soft_wrap=True)
