"""The key hostile snippets again, with kb run by an ordinary user (no root: the
sandbox then stands on a user namespace). Needs root to switch users; skipped
otherwise (the main tests then already run as an ordinary user)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kb

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="needs Linux, root and setpriv to run kb as another user")

KB_ROOT = str(Path(kb.__file__).resolve().parent.parent)
SITE = str(Path(__import__("torch").__file__).resolve().parent.parent)

HELPER = r'''
import json, os, socket, sys, time
from kb.sandbox import Job, Limits, Sandbox

work = sys.argv[1]
secret = os.path.join(work, "secret.txt")
with open(secret, "w") as f:
    f.write("user-secret-42")
os.chmod(secret, 0o600)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
listener.setblocking(False)
port = listener.getsockname()[1]
snippets = {
    "whoami": ("python", "import os\nprint(os.getuid(), sorted(os.listdir('/')))"),
    "network": ("python", f"""import socket
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=2)
    print('connected')
except OSError:
    print('refused')"""),
    "write": ("sh", f"""touch {work}/pwned 2>/dev/null && echo wrote
mount -o remount,rw /usr 2>/dev/null && echo remounted
echo done"""),
    "read": ("python", f"""try:
    print(open({secret!r}).read())
except OSError as e:
    print('denied')"""),
    "fork-storm": ("python", """import os
while True:
    try:
        os.fork()
    except OSError:
        pass"""),
    "daemon": ("sh", "(setsid sleep 4321.5 &); echo started"),
}
out = {}
with Sandbox() as box:
    out["isolation"] = box.isolation().to_json()
    jobs = [Job(i, name, lang, code, Limits(timeout_s=3))
            for i, (name, (lang, code)) in enumerate(snippets.items())]
    for o in box.run(jobs):
        out[jobs[o.job].name] = {"stdout": o.stdout, "timed_out": o.timed_out,
                                 "signal": o.signal}
    time.sleep(0.5)
    out["left"] = [p for p in os.listdir("/proc")
                   if p.isdigit() and b"4321.5" in open(f"/proc/{p}/cmdline", "rb").read()]
try:
    listener.accept()
    out["accepted"] = True
except BlockingIOError:
    out["accepted"] = False
out["pwned"] = os.path.exists(os.path.join(work, "pwned"))
print(json.dumps(out))
'''


def _user() -> pwd.struct_passwd:
    users = [u for u in pwd.getpwall() if 1000 <= u.pw_uid < 60000]
    return users[0] if users else pwd.getpwnam("nobody")


def _python_for(user: pwd.struct_passwd, env: dict[str, str]) -> str | None:
    """An interpreter that user can run (really: its sys.executable too) with kb importable."""
    for python in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run(
            ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
             python, "-c", "import yaml, kb.sandbox, subprocess, sys; "
             "subprocess.run([sys.executable, '-c', 'pass'], check=True)"],
            env=env, capture_output=True, timeout=300)
        if probe.returncode == 0:
            return python
    return None


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, Any]]:
    user = _user()
    work = tempfile.mkdtemp(prefix="kb-user-test-")
    try:
        os.chown(work, user.pw_uid, user.pw_gid)
        os.chmod(work, 0o700)
        helper = Path(work) / "helper.py"
        helper.write_text(textwrap.dedent(HELPER))
        os.chown(helper, user.pw_uid, user.pw_gid)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": user.pw_dir,
               "LANG": "C.UTF-8", "PYTHONPATH": f"{KB_ROOT}:{SITE}"}
        python = _python_for(user, env)
        if python is None:
            pytest.skip(f"no Python with torch that user {user.pw_name} can run")
        proc = subprocess.run(
            ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
             python, str(helper), work], env=env, capture_output=True, text=True, timeout=600,
            cwd=work)
        assert proc.returncode == 0, proc.stderr
        yield json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_an_ordinary_user_gets_strong_isolation(results: dict[str, Any]) -> None:
    assert results["isolation"]["level"] == "strong", results["isolation"]
    assert "user namespace" in results["isolation"]["layers"]
    assert results["whoami"]["stdout"].startswith("0 ")  # root of its own namespace only


def test_no_network_no_writes_no_reads(results: dict[str, Any]) -> None:
    assert results["network"]["stdout"] == "refused\n"
    assert not results["accepted"]
    assert results["write"]["stdout"] == "done\n"  # neither the touch nor the remount worked
    assert not results["pwned"]
    assert results["read"]["stdout"] == "denied\n"


def test_fork_storms_and_daemons_are_contained(results: dict[str, Any]) -> None:
    storm = results["fork-storm"]
    assert storm["timed_out"] or storm["signal"]
    assert results["daemon"]["stdout"] == "started\n"
    assert results["left"] == []
