"""The zygote: a process that imports torch once and forks one sandboxed child per
snippet (torch takes ~0.7 s to import; a fork takes milliseconds).

Process tree, and why each level exists:

    kb (no torch)                     reads the pipes, enforces time and output limits
     └─ zygote Z0                     started with a scrubbed environment; enters a new
         │                            pid namespace (and, unless root, a user namespace)
         └─ Z1 = pid 1 of that ns     imports torch, never runs a torch op (an OpenMP
             │                        pool would hang forked children: pytorch#41197),
             │                        stays single-threaded; per job: unshare(NEWPID),
             │                        fork, setns back, so each child gets its own ns
             └─ child = pid 1 of its  own mount/net/ipc/uts namespaces, read-only tree,
                own pid namespace     rlimits, no capabilities, seccomp, then the snippet

When a child exits, the kernel kills everything left in its pid namespace (daemons,
setsid double-forks included). Every level has a parent-death signal, so killing kb
(even with SIGKILL) takes the whole tree down: Z0 dies with kb, Z1 with Z0, and as
pid 1 of the outer namespace Z1 takes every child with it.

Where namespaces are not allowed, the zygote says so in its `ready` message and
runs children with what is left (rlimits, seccomp without fork/exec for Python,
an unprivileged uid for root, a host temp dir).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import random
import selectors
import shutil
import signal
import socket
import sys
import sysconfig
import tempfile
from typing import Any

from kb.record import replace
from kb.sandbox import child, linux, protocol, rootfs, seccomp
from kb.sandbox.environment import kb_root
from kb.sandbox.limits import Limits
from kb.sandbox.protocol import Isolation, Job, Layers, Op, isolation_report

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
# modules snippets use all the time: import them once here, not in every child
# (numpy.random: every child seeds it, and numpy 2 loads it lazily, ~15 ms; the torch
# modules below are lazy imports most snippets trigger, measured over the built-in entries)
_WARM = ("numpy", "numpy.random", "torch", "torch.nn", "torch.nn.functional",
         "torch.utils.data", "torch._subclasses.schema_check_mode",
         "torch.profiler._cupti_monitor", "torch.utils.serialization",
         "multiprocessing.synchronize", "json", "math", "random", "collections", "itertools",
         "functools", "re", "typing", "dataclasses", "copy", "pathlib", "tempfile",
         "subprocess", "textwrap", "pprint")


class Zygote:
    def __init__(self, ctl: socket.socket, gpu: bool, cuda_devices: str | None) -> None:
        self.ctl = ctl
        self.gpu = gpu
        self.cuda_devices = cuda_devices
        self.userns = False
        self.pidns = False
        self.pidns_fd = -1
        self.missing: list[tuple[str, str]] = []
        self.layers = Layers(namespaces=False, userns=False, drop_uid=os.geteuid() == 0,
                             seccomp=seccomp.supported())
        self.binds: tuple[rootfs.Bind, ...] = ()
        self.root: rootfs.PreparedRoot | None = None  # the tree children enter (prepare_tree)
        self.jobs: dict[int, tuple[int, str | None]] = {}  # pid -> (job id, host temp dir)
        self.rng = random.SystemRandom()

    # ------------------------------------------------------------ namespaces

    def enter(self) -> None:
        """Z0: make a pid namespace (and a user namespace unless root), fork Z1 into it,
        and wait for it. Only Z1 returns."""
        if not linux.available():
            self.missing.append(("namespaces", f"not available on {sys.platform}"))
            return
        uid, gid = os.geteuid(), os.getegid()
        try:
            if uid == 0:
                linux.unshare(linux.CLONE_NEWPID)
            else:
                linux.unshare(linux.CLONE_NEWUSER | linux.CLONE_NEWPID)
                _write("/proc/self/setgroups", "deny")
                _write("/proc/self/uid_map", f"0 {uid} 1")
                _write("/proc/self/gid_map", f"0 {gid} 1")
                self.userns = True
        except OSError as exc:
            self.missing.append(("namespaces", str(exc)))
            return
        pid = os.fork()
        if pid:
            self.ctl.close()
            while True:
                try:
                    _, status = os.waitpid(pid, 0)
                    break
                except InterruptedError:
                    continue
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        linux.set_parent_death_signal(signal.SIGKILL)
        self.pidns = True
        self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.layers = replace(self.layers, namespaces=True, userns=self.userns,
                              drop_uid=not self.userns and os.geteuid() == 0)

    # ------------------------------------------------------------ one child

    def prepare_tree(self) -> None:
        """Z1: build the read-only tree once, in a mount namespace of its own; every
        child starts from a copy of it."""
        if self.layers.namespaces:
            linux.unshare(linux.CLONE_NEWNS)
            self.root = rootfs.prepare(self.binds, self.gpu)
            # the zygote's own scratch space (torch._dynamo makes a cache dir on import):
            # private to its namespace, hidden in children under their own /tmp
            scratch = self.root.path + "/tmp"
            linux.mount("tmpfs", scratch, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                        "size=16m,mode=0700")
            os.environ["TMPDIR"] = scratch
            tempfile.tempdir = None

    def fork(self, job: Job, fds: list[int], *, probe: bool = False) -> int:
        host_dir = None
        tree = None
        uid = self.rng.randrange(child.UID_BASE, child.UID_BASE + child.UID_SPAN) if (
            self.layers.drop_uid) else 0
        if self.layers.namespaces:
            tree = rootfs.Tree("/tmp/tmp" + "".join(self.rng.choices(_NAME_CHARS, k=8)),
                               job.limits.tmp_bytes, (uid, uid))
        else:
            host_dir = tempfile.mkdtemp(prefix="kb-run-")
            if self.layers.drop_uid:
                os.chown(host_dir, uid, uid)
        me = os.getpid()
        pid = -1
        if self.pidns:
            linux.unshare(linux.CLONE_NEWPID)
        try:
            pid = os.fork()
        finally:
            if self.pidns and pid != 0:
                linux.setns(self.pidns_fd, linux.CLONE_NEWPID)
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            if host_dir:
                os.chdir(host_dir)
            child.run(job, self.layers, tree, fds, parent_pid=me, uid=uid,
                      cuda_devices=self.cuda_devices, root=self.root,
                      fresh=(self.binds, self.gpu) if probe else None)
        for fd in fds:
            os.close(fd)
        self.jobs[pid] = (job.id, host_dir)
        return pid

    # ------------------------------------------------------------ the probe

    def probe(self) -> None:
        """Run one tiny snippet with every layer; drop the layers the kernel refuses,
        and remember why, for the isolation report."""
        for _ in range(5):
            result, stdout = self._run_probe()
            if "setup_error" not in result:
                if result.get("exc_type") == "ModuleNotFoundError" and self.layers.drop_uid:
                    # outside a mount namespace the uid must read Python where it is
                    # installed (e.g. under /root): keep root's uid rather than break imports
                    self.layers = replace(self.layers, drop_uid=False)
                    self.missing.append(("unprivileged uid", "an unprivileged uid cannot read "
                                         "the Python installation "
                                         f"({result.get('exc_message')})"))
                    continue
                for name in result.get("missing", []):
                    self.missing.append((name, "not allowed here"))
                if stdout.strip() != "ok":
                    self.missing.append(("probe", f"unexpected output {stdout!r}"))
                return
            layer, error = result.get("layer", "?"), result["setup_error"]
            if layer == "seccomp":
                self.layers = replace(self.layers, seccomp=False)
                self.missing.append(("seccomp", error))
            elif layer in ("namespaces", "mount", "capabilities") and self.layers.namespaces:
                self.layers = replace(self.layers, namespaces=False)
                self.missing.append((layer, error))
            else:
                raise RuntimeError(f"the sandbox cannot start: {layer}: {error}")
        raise RuntimeError("the sandbox cannot start: its probe keeps failing")

    def _run_probe(self) -> tuple[dict[str, Any], str]:
        pipes = [os.pipe() for _ in range(3)]
        # a module nothing has imported yet: the child must be able to import lazily
        job = Job(-1, "probe", "python", "import colorsys\nprint('ok')", Limits(timeout_s=10))
        pid = self.fork(job, [w for _, w in pipes], probe=True)
        _, host_dir = self.jobs.pop(pid)
        outputs = []
        for r, _ in pipes:
            chunks = []
            while chunk := os.read(r, 65536):
                chunks.append(chunk)
            os.close(r)
            outputs.append(b"".join(chunks).decode(errors="replace"))
        os.waitpid(pid, 0)
        if host_dir:
            shutil.rmtree(host_dir, ignore_errors=True)
        stdout, stderr, result = outputs
        try:
            return json.loads(result.splitlines()[0]) if result else {
                "setup_error": stderr.strip() or "no result", "layer": "?"}, stdout
        except ValueError:
            return {"setup_error": result[:200], "layer": "?"}, stdout

    def isolation(self, versions: dict[str, Any]) -> Isolation:
        return isolation_report(self.layers, self.missing, shared_pidns=self.pidns,
                                python=versions.get("python", ""),
                                torch=versions.get("torch"))

    # ------------------------------------------------------------ the loop

    def serve(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        sel = selectors.DefaultSelector()
        sel.register(self.ctl, selectors.EVENT_READ, "ctl")
        sel.register(wake_r, selectors.EVENT_READ, "child")
        self._reap()
        while True:
            for key, _ in sel.select():
                if key.data == "child":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
                    self._reap()
                    continue
                try:
                    message = protocol.receive(self.ctl)
                except (ConnectionError, OSError):
                    message = None
                if message is None:
                    self._kill_all()
                    return
                self._handle(*message)

    def _handle(self, message: dict[str, Any], fds: list[int]) -> None:
        op = message.get("op")
        if op == Op.RUN and len(fds) == 3:
            job = Job.from_json(message["job"])
            try:
                self.fork(job, fds)
            except OSError as exc:
                for fd in fds:
                    _close(fd)
                protocol.send(self.ctl, {"op": Op.FAILED, "job": job.id, "error": str(exc)})
        elif op == Op.WARM:
            self._warm([m for m in message.get("modules", []) if m in child.WARMABLE])
        elif op == Op.KILL:
            for pid, (job_id, _) in list(self.jobs.items()):
                if job_id == message.get("job"):
                    self._kill(pid)
        else:
            for fd in fds:
                _close(fd)

    def _warm(self, modules: list[str]) -> None:
        """Import modules children keep importing (only names from child.WARMABLE).
        Only with a private mount namespace: imports may write to the temp dir."""
        if not self.layers.namespaces:
            return
        for name in modules:
            if name in sys.modules:
                continue
            try:
                importlib.import_module(name)
            except Exception:  # a module that fails here fails in the child too
                continue
        gc.freeze()

    def _kill(self, pid: int) -> None:
        with contextlib.suppress(OSError):  # the child leads its own group (setsid)
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)

    def _kill_all(self) -> None:
        for pid in list(self.jobs):
            self._kill(pid)

    def _reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.jobs.pop(pid, None)
            if job is None:
                continue  # an orphan that was reparented to us
            job_id, host_dir = job
            if not self.layers.namespaces:
                with contextlib.suppress(OSError):  # without a pid namespace: the group
                    os.killpg(pid, signal.SIGKILL)
            if host_dir:
                shutil.rmtree(host_dir, ignore_errors=True)
            protocol.send(self.ctl, {"op": Op.EXITED, "job": job_id, "status": status,
                                     "cpu_s": usage.ru_utime + usage.ru_stime})


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _kb_checkout() -> str | None:
    """kb's own source tree, when it is not in site-packages: kept out of the sandbox."""
    root = kb_root()
    site = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    return None if root in site else root


def _warm_up() -> dict[str, Any]:
    versions: dict[str, Any] = {"python": sys.version.split()[0]}
    for name in _WARM:
        try:
            __import__(name)
        except Exception:
            continue
    torch = sys.modules.get("torch")
    versions["torch"] = getattr(torch, "__version__", None)
    # children then leave these objects' pages shared (their GC never walks them);
    # no gc.collect() first: it costs ~0.1 s on kb run's critical path for little
    gc.freeze()
    return versions


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    ctl_fd, parent_pid, gpu = int(args[0]), int(args[1]), args[2] == "1"
    disabled = set(filter(None, args[3].split(","))) if len(args) > 3 else set()
    linux.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
    ctl = socket.socket(fileno=ctl_fd)
    zygote = Zygote(ctl, gpu, os.environ.get("KB_SANDBOX_CUDA_DEVICES"))
    try:
        if "seccomp" in disabled:
            zygote.layers = replace(zygote.layers, seccomp=False)
            zygote.missing.append(("seccomp", "disabled by KB_SANDBOX_DISABLE"))
        if "namespaces" in disabled:
            zygote.missing.append(("namespaces", "disabled by KB_SANDBOX_DISABLE"))
        else:
            zygote.enter()
        exclude = _kb_checkout()
        zygote.binds = rootfs.python_binds([exclude] if exclude else [])
        zygote.probe()
        zygote.prepare_tree()
        versions = _warm_up()
        protocol.send(ctl, {"op": Op.READY,
                            "isolation": zygote.isolation(versions).to_record()})
    except Exception as exc:
        protocol.send(ctl, {"op": Op.BROKEN, "error": f"{type(exc).__name__}: {exc}"})
        os._exit(1)
    zygote.serve()
    os._exit(0)


if __name__ == "__main__":
    main()
