"""What runs in the sandboxed child, after the zygote forks it: the layers, in
order, then the snippet.

Order matters: namespaces, bringing up their `lo` and the mount tree need
capabilities, so they come first; then the uid drop (root only) or the capability drop; rlimits; the
scrubbed environment; seccomp last, because it forbids the mount calls before it.
Every step that fails reports which layer failed on the result pipe and exits
with SETUP_FAILED; the snippet never runs with less isolation than announced.
"""

from __future__ import annotations

import contextlib
import gc
import io
import ipaddress
import json
import linecache
import os
import random
import signal
import sys
import tempfile
import traceback
import types
from typing import Any, NoReturn

from kb.sandbox import linux, rootfs, seccomp, shell
from kb.sandbox.environment import snippet_environment
from kb.sandbox.limits import apply_rlimits
from kb.sandbox.protocol import RESULT_FD, SETUP_FAILED, ChildReport, Job, Layers

# Root drops to a uid of its own for each snippet, from this range (no user has one):
# RLIMIT_NPROC counts processes per uid, so a fork storm in one snippet cannot starve
# another snippet, or another kb, of processes, as a shared `nobody` would.
UID_BASE = 1_000_000_000
UID_SPAN = 1_000_000_000
# Slow imports that `import torch` does not do and snippets often trigger: a child
# reports which of these it imported, and kb asks the zygote to import them once so
# later children start with them (measured: optimizer.step() pulls in torch._dynamo,
# ~1 s per child). Only names from this list are ever imported on a child's word.
# (Not matplotlib or tensorboard: importing them writes config and cache dirs.)
WARMABLE = ("torch._dynamo", "PIL.Image", "torchvision")


class SetupError(Exception):
    def __init__(self, layer: str, error: BaseException | str) -> None:
        super().__init__(f"{layer}: {error}")
        self.layer = layer
        self.error = str(error)


def run(job: Job, layers: Layers, tree: rootfs.Tree | None, fds: list[int],
        parent_pid: int, uid: int, cuda_devices: str | None = None,
        root: rootfs.PreparedRoot | None = None,
        fresh: tuple[tuple[rootfs.Bind, ...], bool] | None = None) -> NoReturn:
    """The forked child's whole life: set up, run the snippet, report, exit.
    `tree` is entered in `root`; `fresh` (binds, gpu): no prepared root to copy yet
    (the zygote's probe), make one."""
    status = SETUP_FAILED
    try:
        result_fd = _take_fds(fds)
        try:
            work_dir, missing = _set_up(job, layers, tree, parent_pid, uid, root, fresh)
        except SetupError as exc:
            report(result_fd, {"setup_error": exc.error, "layer": exc.layer})
            os._exit(SETUP_FAILED)
        env = snippet_environment(work_dir, job.gpu, cuda_devices)  # reads what is passed on
        os.environ.clear()
        os.environ.update(env)
        tempfile.tempdir = None  # the zygote's cached choice is not in this tree: use TMPDIR
        if job.lang == "sh":
            report(result_fd, {"missing": missing})
            os.close(result_fd)
            shell.exec_bash(job.code)
        loopback = layers.namespaces and tree is not None and "loopback" not in missing
        status = run_python(job, result_fd, missing, loopback)
    except BaseException as exc:  # a bug here must not hang or leak into the zygote
        try:
            os.write(2, f"kb sandbox: {type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(status)
    os._exit(status)


def _take_fds(fds: list[int]) -> int:
    """stdin from /dev/null, stdout/stderr to kb's pipes, the result pipe at fd 3;
    every other descriptor (the zygote's socket, other jobs' pipes) closed."""
    out, err, res = fds
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.dup2(res, RESULT_FD)
    os.closerange(RESULT_FD + 1, _max_fd())
    os.set_inheritable(RESULT_FD, False)  # bash and subprocesses do not get it
    return RESULT_FD


def _max_fd() -> int:
    try:
        return max(int(n) for n in os.listdir("/proc/self/fd")) + 1
    except (OSError, ValueError):
        return 1024


def _set_up(job: Job, layers: Layers, tree: rootfs.Tree | None, parent_pid: int, uid: int,
            root: rootfs.PreparedRoot | None,
            fresh: tuple[tuple[rootfs.Bind, ...], bool] | None) -> tuple[str, list[str]]:
    missing: list[str] = []
    os.setsid()  # own session and group: no terminal signals, killpg reaches the run
    if layers.namespaces and tree is not None:
        flags = linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
        _layer("namespaces", linux.unshare, flags)
        try:  # while we still hold the capabilities of the new network namespace
            linux.bring_up_loopback()
        except OSError:
            missing.append("loopback")  # snippets lose 127.0.0.1, not their isolation
        try:
            if fresh is not None:
                root = rootfs.prepare(*fresh)
            if root is None:
                raise OSError("no prepared tree to enter")
            missing += rootfs.enter(tree, root)
        except OSError as exc:
            raise SetupError("mount", exc) from None
        work_dir = tree.work_dir
    else:
        work_dir = os.getcwd()  # the zygote made a host temp dir and chdir'd us into it
    if layers.drop_uid:
        _layer("uid", _drop_to, uid)
    if layers.userns:
        _layer("capabilities", linux.drop_capabilities)
    # credential changes clear the parent-death signal: set it again, then make sure
    # the parent did not die in between
    linux.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid and os.getpid() != 1:
        os._exit(SETUP_FAILED)
    _layer("rlimits", apply_rlimits, job.limits)
    if layers.seccomp:
        policy = "namespaced" if layers.namespaces or job.lang == "sh" else "contained"
        own_network = layers.namespaces and tree is not None  # inet reaches only its lo
        _layer("seccomp", seccomp.install, policy, own_network)
    return work_dir, missing


def _layer(name: str, func: Any, *args: Any) -> None:
    try:
        func(*args)
    except OSError as exc:
        raise SetupError(name, exc) from None


def _drop_to(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def report(fd: int, data: ChildReport) -> None:
    """Write one line of the child's report (kb merges the lines it reads)."""
    payload = (json.dumps(data) + "\n").encode()
    try:
        while payload:
            payload = payload[os.write(fd, payload):]
    except OSError:
        pass


def _seed(seed: int, gpu: bool = False) -> None:
    """Same numbers as a fresh process: the zygote's RNG state is inherited otherwise."""
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        if gpu:
            torch.manual_seed(seed)
        else:  # the CPU generator is all torch.manual_seed seeds here, ~4 ms cheaper
            torch.default_generator.manual_seed(seed)
        torch.set_num_threads(1)  # like QUIET_ENV's OMP_NUM_THREADS


def run_python(job: Job, result_fd: int, missing: list[str], loopback: bool) -> int:
    """Run a Python snippet in this process, as a fresh interpreter would; report how
    it ended on `result_fd`; return its exit status."""
    gc.enable()
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT
                      else signal.SIG_DFL)
    filename = f"<snippet {job.name}>"
    lines = job.code.splitlines(keepends=True)
    linecache.cache[filename] = (len(job.code), None, lines, filename)
    main = types.ModuleType("__main__")
    main.__dict__["__file__"] = filename
    sys.modules["__main__"] = main
    sys.argv = [filename]
    _seed(job.seed, job.gpu)
    _forget_zygote_exit_hooks()
    sys.addaudithook(_FriendlyNetworkError(loopback))
    result: ChildReport = {"missing": missing}
    before = set(sys.modules)
    status = 0
    try:
        code = compile(job.code, filename, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except BaseException as exc:
        result["exc_type"] = type(exc).__name__
        result["exc_message"] = _message(exc)
        tb = exc.__traceback__
        traceback.print_exception(type(exc), exc, tb.tb_next if tb else None)  # not our frame
        status = 1
    _finalize()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    result["imported"] = [m for m in WARMABLE if m in sys.modules and m not in before]
    report(result_fd, result)
    return status


def _forget_zygote_exit_hooks() -> None:
    """Keep the exit hooks a fresh process would need, drop the zygote's own: torch's
    library finalizers alone take ~30 ms per child and change nothing before _exit."""
    import atexit
    import weakref

    try:
        atexit._clear()
        for info in list(getattr(weakref.finalize, "_registry", {}).values()):
            info.atexit = False
        weakref.finalize._registered_with_atexit = False  # type: ignore[attr-defined]
    except Exception:  # private APIs: if they moved, keep the hooks (slower, still right)
        return
    logging = sys.modules.get("logging")
    if logging is not None:
        atexit.register(logging.shutdown)
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:  # joins a snippet's non-daemon processes, as at a real exit
        atexit.register(mp_util._exit_function)


def _finalize() -> None:
    """What a fresh interpreter does at exit, which os._exit skips: wait for the
    snippet's non-daemon threads, then run atexit callbacks (a SummaryWriter flushes,
    tqdm closes its bar)."""
    import atexit
    import threading

    try:
        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None:
            shutdown()
        atexit._run_exitfuncs()
    except BaseException:  # an exit hook failing is the snippet's problem, shown like Python
        traceback.print_exc()


class _FriendlyNetworkError:
    """Say why the network fails, before it fails less clearly. Only a message: the
    boundary is the network namespace and seccomp (an audit hook can be bypassed
    from Python).

    With a network namespace of its own (`loopback`), a snippet may use inet sockets
    on its own `lo` (gloo and torchrun between its processes): only lookups of other
    hosts and connections to other addresses are refused here (the kernel would say
    "Network is unreachable"). Without one, seccomp refuses every inet socket, and
    this refuses them first."""

    _LOCAL_NAMES = frozenset(("", "localhost", "localhost.localdomain", "ip6-localhost",
                              "ip6-loopback"))
    _ADDRESS_EVENTS = frozenset(("socket.connect", "socket.sendto", "socket.sendmsg"))
    _LOOKUP_EVENTS = frozenset(("socket.getaddrinfo", "socket.gethostbyname",
                                "socket.gethostbyaddr", "socket.getnameinfo"))

    def __init__(self, loopback: bool) -> None:
        self.loopback = loopback
        # the uts hostname resolves locally (/etc/hosts, or gloo falls back to lo);
        # read now: inside the hook, socket.gethostname() would raise an event itself
        self.local = self._LOCAL_NAMES | {os.uname().nodename.lower()}

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not event.startswith("socket."):
            return
        if not self.loopback:
            inet = event == "socket.__new__" and len(args) > 1 and args[1] in (2, 10)
            if inet or event in self._LOOKUP_EVENTS:
                self._refuse()
            return
        if event in self._LOOKUP_EVENTS and args:
            host = args[0][0] if isinstance(args[0], tuple) and args[0] else args[0]
            if not self._is_local(host):
                self._refuse()
        elif event in self._ADDRESS_EVENTS and len(args) > 1:
            address = args[1]
            if isinstance(address, tuple) and address and not self._is_local(address[0]):
                self._refuse()

    def _is_local(self, host: object) -> bool:
        if host is None:
            return True
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if not isinstance(host, str):
            return False
        name = host.lower().rstrip(".")
        if name in self.local:
            return True
        try:
            ip = ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            return False
        return ip.is_loopback or ip.is_unspecified

    @staticmethod
    def _refuse() -> None:
        raise PermissionError(13, "kb sandbox: snippets run without a network; give this "
                                  "snippet `requires: [network]` if it needs one")


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a hostile __str__
        return f"<unprintable {type(exc).__name__}>"


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    # as python does for sys.exit("why"): the message goes to the snippet's own stderr
    print(code, file=sys.stderr)  # noqa: T201
    return 1
