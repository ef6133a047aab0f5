"""The sandbox contains hostile snippets (issue #3): each test runs one attack and
asserts it was contained. These run as whoever runs the tests (CI: root);
tests/test_sandbox_user.py repeats the key ones as an ordinary user."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.sandbox import Job, Limits, Outcome, Sandbox

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")
pytestmark = linux_only

SECRET_VAR = "KB_TEST_SECRET_TOKEN"
SECRET = "s3cr3t-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """One zygote for the module, started while a secret is in kb's environment."""
    os.environ[SECRET_VAR] = SECRET
    try:
        box = Sandbox().start()
        box.isolation()
    finally:
        del os.environ[SECRET_VAR]
    yield box
    box.close()


def run(box: Sandbox, code: str, lang: str = "python", **limits: float) -> Outcome:
    job = Job(1, "hostile", lang, textwrap.dedent(code), Limits(**limits))  # type: ignore[arg-type]
    (outcome,) = box.run([job])
    return outcome


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc, parent links)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def processes_with(marker: str) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        pids.append(int(name))
            except OSError:
                continue
    return pids


def only_the_zygote_is_left(box: Sandbox) -> bool:
    """After a run: the zygote Z0 has one child (Z1) and Z1 has none, or (without
    namespaces) Z0 alone."""
    assert box.pid is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if len(descendants(box.pid)) <= 1:
            return True
        time.sleep(0.05)
    return False


def test_the_isolation_here_is_strong(sandbox: Sandbox) -> None:
    iso = sandbox.isolation()
    assert iso.strong, iso.describe()
    assert {"pid namespace", "mount namespace", "network namespace"} <= set(iso.layers)


CONNECT_WITH_CTYPES = """
import ctypes, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)  # no audit hook on this path
if fd < 0:
    print("socket denied", ctypes.get_errno())
else:
    addr = struct.pack("=HH4s8x", socket.AF_INET, socket.htons({port}),
                       socket.inet_aton("127.0.0.1"))
    rc = libc.connect(fd, addr, len(addr))
    print("connected" if rc == 0 else f"connect failed {{ctypes.get_errno()}}")
"""


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    yield sock
    with pytest.raises(BlockingIOError):  # nothing ever connected
        sock.accept()
    sock.close()


def test_network_to_a_listener_on_localhost_is_unreachable(sandbox: Sandbox,
                                                           listener: socket.socket) -> None:
    """The snippet's 127.0.0.1 is its own lo: the host's listener there is never reached."""
    port = listener.getsockname()[1]
    out = run(sandbox, f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2)
            print("connected")
        except OSError as e:
            print("refused:", e)
        """)
    assert out.stdout.startswith("refused: [Errno 111]"), out  # nothing listens on its lo
    raw = run(sandbox, CONNECT_WITH_CTYPES.format(port=port))  # past the friendly hook
    assert raw.stdout.startswith("connect failed 111"), raw
    sh = run(sandbox, f"echo hi > /dev/tcp/127.0.0.1/{port} && echo connected", "sh")
    assert "connected" not in sh.stdout


def outward_address() -> str | None:
    """The host's address towards the outside (no packet is sent), if it has a route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1
        except OSError:
            return None
        return str(s.getsockname()[0])


def test_a_snippet_reaches_its_own_loopback_and_nothing_else(sandbox: Sandbox) -> None:
    """gloo, TCPStore and torchrun need 127.0.0.1 between a snippet's own processes; every
    other address stays unreachable, below the friendly hook too (ENETUNREACH, no hang)."""
    host = socket.socket()
    host.bind(("0.0.0.0", 0))
    host.listen()
    host.setblocking(False)
    port = host.getsockname()[1]
    outside = [a for a in ("192.0.2.1", "10.0.0.1", outward_address()) if a]
    out = run(sandbox, f"""
        import ctypes, socket, struct
        for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            server = socket.socket(family)
            server.bind((addr, 0))
            server.listen()
            client = socket.create_connection(server.getsockname()[:2], timeout=2)
            conn, _ = server.accept()
            client.sendall(b"ping")
            print(addr, conn.recv(4).decode())
        try:
            socket.create_connection(("192.0.2.1", {port}), timeout=2)
        except OSError as e:
            print("friendly:", e)
        try:
            socket.getaddrinfo("pypi.org", 443)
        except OSError as e:
            print("friendly:", e)
        libc = ctypes.CDLL(None, use_errno=True)
        for ip in {outside!r}:
            fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
            addr = struct.pack("=HH4s8x", socket.AF_INET, socket.htons({port}),
                               socket.inet_aton(ip))
            rc = libc.connect(fd, addr, len(addr))
            print("connected" if rc == 0 else f"connect failed {{ctypes.get_errno()}}")
        """, timeout_s=5)
    friendly = "friendly: [Errno 13] kb sandbox: snippets run without a network"
    assert out.stdout.splitlines() == [
        "127.0.0.1 ping", "::1 ping", *[friendly + "; give this snippet `requires: "
                                        "[network]` if it needs one"] * 2,
        *["connect failed 101"] * len(outside)], out  # ENETUNREACH: no route out of lo
    with pytest.raises(BlockingIOError):  # nothing ever reached the host
        host.accept()
    host.close()


def test_the_network_namespace_holds_without_seccomp(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with Sandbox(disable=("seccomp",)) as box:
        out = run(box, CONNECT_WITH_CTYPES.format(port=port))
    assert out.stdout.startswith("connect failed"), out  # ECONNREFUSED: the lo is its own


def test_cannot_write_outside_its_directory(sandbox: Sandbox, tmp_path: Path) -> None:
    targets = [tmp_path / "pwned", Path("/etc/kb-pwned"), Path("/usr/kb-pwned"),
               Path(sys.prefix) / "kb-pwned", Path.home() / "kb-pwned"]
    out = run(sandbox, f"""
        for path in {[str(t) for t in targets]!r}:
            try:
                with open(path, "w") as f:
                    f.write("x")
                print("wrote", path)
            except OSError as e:
                print("denied", type(e).__name__)
        """)
    sh = run(sandbox, " ; ".join(f"touch {t} 2>/dev/null && echo wrote {t}" for t in targets),
             "sh")
    assert "wrote" not in out.stdout + sh.stdout or not any(t.exists() for t in targets)
    assert not any(t.exists() for t in targets)


def test_cannot_read_the_users_files(sandbox: Sandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    secret.chmod(0o644)
    here = Path(__file__).resolve()
    out = run(sandbox, f"""
        for path in [{str(secret)!r}, {str(here)!r}, "/etc/shadow", "/root/.bash_history",
                     {str(Path.home() / ".bashrc")!r}]:
            try:
                print(open(path).read()[:50])
            except OSError as e:
                print("denied", type(e).__name__)
        """)
    assert SECRET not in out.stdout
    assert out.stdout.count("denied") == 5, out.stdout


def test_secrets_in_kbs_environment_do_not_reach_the_snippet(sandbox: Sandbox) -> None:
    # the snippet holds only the secret's hash, so finding it in memory means a leak
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    out = run(sandbox, f"""
        import hashlib, os, re
        def leaked(data):
            return any(hashlib.sha256(data[i:i + {len(SECRET)}]).hexdigest() == {digest!r}
                       for i in [m.start() for m in re.finditer(rb"s3cr3t-", data)])
        found = []
        if {SECRET_VAR!r} in os.environ:
            found.append("os.environ")
        for pid in ["self", "1"]:
            try:
                if leaked(open(f"/proc/{{pid}}/environ", "rb").read()):
                    found.append(pid + "/environ")
            except OSError:
                pass
        # the child is a fork of the zygote: nothing of kb's may be in its memory
        import ctypes
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                name = fields[5] if len(fields) > 5 else ""
                special = ("[vvar]", "[vsyscall]", "[vvar_vclock]")
                if "r" not in fields[1] or name.startswith("/") or name in special:
                    continue
                start, end = (int(x, 16) for x in fields[0].split("-"))
                if leaked(ctypes.string_at(start, end - start)):
                    found.append(name or "anonymous memory")
        print("found:", found)
        print(sorted(os.environ))
        """, timeout_s=30)
    assert out.stdout.startswith("found: []"), out
    assert SECRET_VAR not in out.stdout


def test_home_is_the_empty_temp_dir(sandbox: Sandbox) -> None:
    out = run(sandbox, """
        import os
        print(os.getcwd() == os.environ["HOME"], os.listdir("."),
              os.environ["CUDA_VISIBLE_DEVICES"] == "")
        """)
    assert out.stdout.strip() == "True [] True", out


def test_an_infinite_loop_times_out(sandbox: Sandbox) -> None:
    started = time.monotonic()
    out = run(sandbox, "while True:\n    pass\n", timeout_s=1)
    assert out.timed_out
    assert time.monotonic() - started < 10
    assert only_the_zygote_is_left(sandbox)


def test_a_16_gb_allocation_fails_cleanly(sandbox: Sandbox) -> None:
    out = run(sandbox, """
        import torch
        try:
            torch.empty(4 * 2**30)  # 16 GB of float32
        except RuntimeError as e:
            print("torch:", type(e).__name__)
        try:
            bytearray(16 * 2**30)
        except MemoryError as e:
            print("python:", type(e).__name__)
        """)
    assert out.stdout.split("\n")[:2] == ["torch: RuntimeError", "python: MemoryError"], out
    assert out.exit_code == 0


def test_a_fork_storm_is_contained(sandbox: Sandbox) -> None:
    out = run(sandbox, """
        import os
        n = 0
        while True:
            try:
                if os.fork() == 0:
                    continue
                n += 1
            except OSError:
                pass
        """, timeout_s=2)
    assert out.timed_out or out.signal is not None
    assert only_the_zygote_is_left(sandbox)
    assert run(sandbox, "print('still fine')").stdout == "still fine\n"


def test_an_output_flood_is_cut(sandbox: Sandbox) -> None:
    limits = Limits()
    out = run(sandbox, "while True:\n    print('x' * 1000)\n", timeout_s=30)
    assert out.cut and "stdout" in out.cut
    assert len(out.stdout.encode()) <= limits.stdout_bytes
    assert not out.timed_out  # cut as soon as the cap was reached
    err = run(sandbox, "import sys\nwhile True:\n    sys.stderr.write('y' * 1000)\n",
              timeout_s=30)
    assert err.cut and "stderr" in err.cut


def test_subprocesses_and_daemons_do_not_outlive_the_run(sandbox: Sandbox) -> None:
    marker = f"{time.time() % 1000:.0f}{os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    out = run(sandbox, f"""
        import os, subprocess
        subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
        if os.fork() == 0:          # the classic daemon: fork, setsid, fork
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "{marker}"])
            os._exit(0)
        print("started")
        """)
    sh = run(sandbox, f"(setsid sleep {marker} &) ; nohup sleep {marker} >/dev/null 2>&1 & "
                      "echo started", "sh")
    assert out.stdout == "started\n" and sh.stdout == "started\n", (out, sh)
    assert only_the_zygote_is_left(sandbox)
    assert processes_with(f"sleep\0{marker}") == []


def test_limits_on_file_size_and_open_files(sandbox: Sandbox) -> None:
    out = run(sandbox, """
        import errno
        try:
            with open("big", "wb") as f:
                f.write(b"0" * (100 << 20))
        except OSError as e:
            print(errno.errorcode[e.errno])
        files = []
        try:
            while True:
                files.append(open("/dev/null"))
        except OSError as e:
            print(errno.errorcode[e.errno], len(files) < 1000)
        """)
    assert out.stdout.split() == ["EFBIG", "EMFILE", "True"], out


def test_shared_memory_and_tmp_are_private(sandbox: Sandbox) -> None:
    name = f"kb-test-{uuid.uuid4().hex}"
    first = run(sandbox, f"open('/dev/shm/{name}', 'w').write('x'); "
                         f"open('/tmp/{name}', 'w').write('x'); print('ok')")
    second = run(sandbox, f"import os; print(os.path.exists('/dev/shm/{name}'), "
                          f"os.path.exists('/tmp/{name}'))")
    assert first.stdout == "ok\n", first
    assert second.stdout == "False False\n"
    assert not Path(f"/dev/shm/{name}").exists() and not Path(f"/tmp/{name}").exists()


def test_a_seeded_child_prints_what_a_fresh_process_prints(sandbox: Sandbox) -> None:
    code = ("import random, numpy, torch\n"
            "print(torch.rand(3), torch.randn(2, 2), random.random(), numpy.random.rand())\n")
    fresh = subprocess.run(
        [sys.executable, "-c", "import random, numpy, torch; random.seed(0); "
         "numpy.random.seed(0); torch.manual_seed(0); torch.set_num_threads(1)\n" + code],
        capture_output=True, text=True, check=True)
    assert run(sandbox, code).stdout == fresh.stdout


def test_stdout_and_stderr_are_apart_and_exceptions_reported(sandbox: Sandbox) -> None:
    out = run(sandbox, """
        import sys, warnings
        print("to stdout")
        warnings.warn("careful")
        raise RuntimeError("Given groups=1, weight of size [24, 3, 3, 3]")
        """)
    assert out.stdout == "to stdout\n"
    assert "UserWarning: careful" in out.stderr and "Traceback" in out.stderr
    assert (out.exc_type, out.exc_message) == ("RuntimeError",
                                               "Given groups=1, weight of size [24, 3, 3, 3]")
    assert "kb/sandbox" not in out.stderr  # the traceback shows the snippet, not kb


def test_shell_snippets_run_in_the_sandbox_too(sandbox: Sandbox) -> None:
    out = run(sandbox, "pwd; mkdir -p a/b && echo hi > a/b/c && tar -czf a.tgz a && "
                       "tar -tzf a.tgz | sort; echo $HOME", "sh")
    cwd = out.stdout.splitlines()[0]
    assert re.fullmatch(r"/tmp/tmp\w{8}", cwd)
    assert out.stdout.splitlines()[1:] == ["a/", "a/b/", "a/b/c", cwd]


def test_killing_kb_takes_the_whole_tree_down(tmp_path: Path) -> None:
    marker = f"{os.getpid() % 1000}.{uuid.uuid4().int % 10**7}"
    script = tmp_path / "kb_like.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from kb.sandbox import Job, Limits, Sandbox
        box = Sandbox().start()
        box.isolation()
        code = "import subprocess, time\\n" \\
               "subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\\n" \\
               "print('running', flush=True)\\n" \\
               "time.sleep(600)\\n"
        for outcome in box.run([Job(1, "x", "python", code, Limits(timeout_s=600))]):
            pass
        """))
    for sig in (signal.SIGKILL, signal.SIGINT):
        proc = subprocess.Popen([sys.executable, str(script)], cwd=Path(__file__).parent.parent)
        deadline = time.monotonic() + 120
        while not processes_with(f"sleep\0{marker}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(f"sleep\0{marker}"), "the snippet never started"
        proc.send_signal(sig)
        proc.wait(30)
        deadline = time.monotonic() + 10
        while processes_with(f"sleep\0{marker}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(f"sleep\0{marker}") == [], f"left behind after {sig.name}"


def kb_temp_dirs() -> set[str]:
    import tempfile

    return {p.name for p in Path(tempfile.gettempdir()).glob("kb-run-*")}


@pytest.fixture(scope="module")
def weak() -> Iterator[Sandbox]:
    before = kb_temp_dirs()
    with Sandbox(disable=("namespaces",)) as box:
        box.isolation()
        yield box
    assert kb_temp_dirs() <= before  # the probe's and every run's temp dir are gone


class TestWithoutNamespaces:
    """Where namespaces are not allowed: weaker, still bounded, and it says so."""

    def test_it_says_the_isolation_is_weak(self, weak: Sandbox) -> None:
        iso = weak.isolation()
        assert iso.level == "weak"
        assert ("namespaces", "disabled by KB_SANDBOX_DISABLE") in iso.missing

    def test_python_snippets_cannot_fork_exec_or_open_inet_sockets(self, weak: Sandbox) -> None:
        out = run(weak, """
            import os, socket, subprocess
            for attempt in (os.fork, lambda: subprocess.run(["true"]), socket.socket):
                try:
                    attempt()
                    print("allowed")
                except OSError as e:
                    print("denied")
            """)
        assert out.stdout.split() == ["denied"] * 3, out
        # a shell may fork and exec, but without a network namespace no inet socket either
        sh = run(weak, "echo hi > /dev/tcp/127.0.0.1/9 || echo denied", "sh")
        assert sh.stdout.split() == ["denied"], sh

    def test_limits_still_hold(self, weak: Sandbox) -> None:
        assert run(weak, "while True:\n    pass\n", timeout_s=1).timed_out
        assert run(weak, "while True:\n    print('x' * 1000)\n").cut
        assert only_the_zygote_is_left(weak)
        out = run(weak, "import os\nprint(os.getcwd(), os.listdir('.'))")
        assert re.fullmatch(r".*/kb-run-\w+ \[\]\n", out.stdout), out
        cwd = out.stdout.split()[0]
        assert not os.path.exists(cwd)  # removed afterwards


def test_nothing_is_left_in_the_hosts_temp_dirs(sandbox: Sandbox) -> None:
    dirs = [Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")]

    def ours() -> set[str]:
        return {str(p) for d in dirs if d.is_dir() for p in d.iterdir()
                if p.name.startswith(("torchinductor_", "kb-run-", "pymp-"))}

    before = ours()
    # torch._dynamo makes a cache dir when imported; the second child finds it warmed in
    # the zygote, which must not have written to the host either
    code = "import torch._dynamo, tempfile, os\nprint(tempfile.gettempdir() == os.getcwd())\n"
    assert [run(sandbox, code).stdout for _ in range(2)] == ["True\n", "True\n"]
    run(sandbox, "open('/dev/shm/x', 'w'); open('/tmp/y', 'w'); open('z', 'w')")
    assert ours() == before


def test_it_exits_like_a_fresh_interpreter(sandbox: Sandbox) -> None:
    out = run(sandbox, """
        import atexit, threading, time
        atexit.register(print, "atexit ran")
        threading.Thread(target=lambda: (time.sleep(0.2), print("thread finished"))).start()
        print("main done")
        """)
    assert out.stdout == "main done\nthread finished\natexit ran\n", out


@pytest.fixture(scope="module")
def spawned() -> Iterator[Sandbox]:
    before = kb_temp_dirs()
    with Sandbox(disable=("zygote",)) as box:
        yield box
    assert kb_temp_dirs() <= before


class TestFreshInterpreterPerSnippet:
    """Where there is no zygote (not Linux): slower, weaker, still bounded, and said."""

    def test_it_says_so(self, spawned: Sandbox) -> None:
        iso = spawned.isolation()
        assert iso.level == "weak" and "fresh interpreter per snippet" in iso.layers
        assert ("zygote", "disabled by KB_SANDBOX_DISABLE") in iso.missing

    def test_same_results_and_limits(self, spawned: Sandbox) -> None:
        code = "import torch\nprint(torch.rand(2))\nraise KeyError('k')\n"
        fresh_like, loop, flood = sorted(spawned.run(
            [Job(0, "a", "python", code, Limits()),
             Job(1, "b", "python", "while True:\n    pass\n", Limits(timeout_s=1)),
             Job(2, "c", "sh", "yes", Limits())], workers=3), key=lambda o: o.job)
        assert fresh_like.stdout == "tensor([0.4963, 0.7682])\n"  # seeded: torch.manual_seed(0)
        assert (fresh_like.exc_type, fresh_like.exc_message) == ("KeyError", "'k'")
        assert loop.timed_out
        assert flood.cut and "stdout" in flood.cut


def test_kb_itself_never_imports_the_child_side() -> None:
    """What kb and the child share is `kb.sandbox.protocol`: the parent imports neither
    the child's module (it runs snippets) nor the zygote's."""
    code = ("import sys, kb.sandbox, kb.runner; "
            "print(sorted(m for m in sys.modules if m in "
            "('kb.sandbox.child', 'kb.sandbox.zygote', 'kb.sandbox.shell', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout == "[]\n", out.stderr


def test_the_environment_is_built_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.sandbox.environment import snippet_environment as environment

    monkeypatch.setenv(SECRET_VAR, SECRET)
    monkeypatch.setenv("PYTHONPATH", "/opt/extra")  # passed on: the user's import path
    assert environment("/w", gpu=False, cuda_devices=None)["PYTHONPATH"] == "/opt/extra"
    monkeypatch.delenv("PYTHONPATH")
    env = environment("/tmp/tmpabcdefgh", gpu=False, cuda_devices="0,1")
    assert env["HOME"] == env["TMPDIR"] == "/tmp/tmpabcdefgh"
    assert env["CUDA_VISIBLE_DEVICES"] == ""  # no GPU unless --gpu
    assert SECRET_VAR not in env and "PYTHONPATH" not in env
    assert environment("/w", gpu=True, cuda_devices="1")["CUDA_VISIBLE_DEVICES"] == "1"
    assert "CUDA_VISIBLE_DEVICES" not in environment("/w", gpu=True, cuda_devices=None)


def test_a_python_installation_under_tmp_stays_reachable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI checkout in /tmp keeps its venv there: the tree must not be built over it,
    and children get it back under their fresh /tmp."""
    import tempfile

    from kb.sandbox import rootfs

    venv = rootfs.Bind("/tmp/ci/kb/.venv", "/tmp/ci/kb/.venv")
    assert rootfs.choose_root([venv]) != "/tmp"
    site = Path(tempfile.mkdtemp(prefix="kb-test-site-", dir="/tmp"))
    try:
        site.chmod(0o755)  # the snippet runs as an unprivileged uid
        (site / "kb_test_under_tmp.py").write_text("WHERE = __file__\n")
        (site / "kb_test_under_tmp.py").chmod(0o644)
        monkeypatch.setenv("PYTHONPATH", f"{os.environ.get('PYTHONPATH', '')}:{site}")
        with Sandbox() as box:
            assert box.isolation().strong
            out = run(box, "import kb_test_under_tmp, os\n"
                           "print(kb_test_under_tmp.WHERE, os.getcwd().startswith('/tmp/'))")
        assert out.stdout == f"{site}/kb_test_under_tmp.py True\n", out
    finally:
        shutil.rmtree(site, ignore_errors=True)
