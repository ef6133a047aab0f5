"""The filesystem a snippet sees: a private, read-only tree with only the system
directories and the Python installation in it, a writable /tmp (its work dir is
there) and a private /dev/shm, both size-limited tmpfs that vanish with the run.

Built in the child's own mount namespace the way bubblewrap does it: a tmpfs
over /tmp becomes a scratch root with the host's root at /oldroot; the new tree
is assembled at /newroot from read-only bind mounts of /oldroot paths; then a
second pivot_root makes it / and the host tree is detached. Nothing under /home,
/root or the project is in it, so a snippet cannot read the user's files, and
nothing it writes outlives it.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass

from kb.sandbox import linux
from kb.sandbox.linux import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
)

SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")
GPU_DEVICE_PREFIXES = ("nvidia",)


@dataclass(frozen=True)
class Bind:
    target: str  # where the snippet sees it (as Python names it)
    source: str  # the host path with symlinks resolved


@dataclass(frozen=True)
class Tree:
    binds: tuple[Bind, ...]  # beyond SYSTEM_DIRS
    work_dir: str  # cwd and HOME, inside the private /tmp
    tmp_bytes: int
    owner: tuple[int, int]  # uid, gid owning /tmp and the work dir (as the snippet runs)
    gpu: bool = False


def python_binds(exclude: Iterable[str] = ()) -> tuple[Bind, ...]:
    """The Python installation as this interpreter sees it: prefixes, the executable's
    directory and every sys.path directory, minus `exclude` (kb's own checkout), the
    system dirs already in the tree, and anything that would expose $HOME whole."""
    excluded = {os.path.realpath(p) for p in exclude}
    home = os.path.realpath(os.path.expanduser("~"))
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(sys.executable), sysconfig.get_paths()["stdlib"],
                  *sys.path]
    chosen: list[Bind] = []
    for path in candidates:
        if not path or not os.path.isabs(path) or not os.path.isdir(path):
            continue
        target = os.path.normpath(path)
        source = os.path.realpath(path)
        if source in excluded or source == "/" or _within(home, source):
            continue  # "/" or an ancestor of $HOME would hand over every file the user has
        if any(_within(source, d) and _within(target, d) for d in SYSTEM_DIRS):
            continue
        chosen.append(Bind(target, source))
    # a bind inside another one is already there
    unique = {b.target: b for b in chosen}
    return tuple(b for b in unique.values()
                 if not any(o is not b and _within(b.target, o.target) and
                            _within(b.source, o.source) for o in unique.values()))


def _within(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _bind(source: str, target: str, *, readonly: bool = True) -> None:
    linux.mount(source, target, None, MS_BIND | MS_REC)
    if readonly:
        # a remount must keep the flags the original mount has (nosuid, nodev...):
        # inside a user namespace the kernel refuses to clear them
        kept = 0
        flags = os.statvfs(target).f_flag
        for st, ms in linux.ST_TO_MS.items():
            if flags & st:
                kept |= ms
        linux.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | kept)


def _mkdirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _touch(path: str) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def build(tree: Tree) -> list[str]:
    """Assemble the tree and make it this mount namespace's root. Returns what was
    left out (e.g. 'proc'), for the isolation report. Call after unshare(CLONE_NEWNS)
    as pid 1 of a new pid namespace (for /proc)."""
    missing: list[str] = []
    linux.mount(None, "/", None, MS_REC | MS_PRIVATE)
    linux.mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    os.chdir("/tmp")
    os.mkdir("newroot", 0o755)
    os.mkdir("oldroot", 0o755)
    linux.pivot_root(".", "oldroot")
    os.chdir("/")
    new, old = "/newroot", "/oldroot"
    linux.mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")

    for path in SYSTEM_DIRS:
        host = old + path
        if os.path.islink(host):
            os.symlink(os.readlink(host), new + path)
        elif os.path.isdir(host):
            _mkdirs(new + path)
            _bind(host, new + path)
    uid, gid = tree.owner
    if uid != 0:  # a name for the snippet's own uid (whoami, getpass), and no host users
        _mkdirs(new + "/.kb")
        for name, text in (("passwd", f"root:x:0:0:root:/root:/bin/sh\n"
                                      f"sandbox:x:{uid}:{gid}:kb sandbox:{tree.work_dir}:/bin/sh\n"
                                      "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
                           ("group", f"root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n")):
            with open(f"{new}/.kb/{name}", "w") as f:
                f.write(text)
            if os.path.isfile(f"{new}/etc/{name}"):
                _bind(f"{new}/.kb/{name}", f"{new}/etc/{name}")
    for bind in tree.binds:
        if os.path.lexists(new + bind.target):
            continue
        _mkdirs(new + bind.target)
        _bind(old + bind.source, new + bind.target)

    _mkdirs(new + "/dev")
    linux.mount("tmpfs", new + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for name in DEVICES:
        _touch(f"{new}/dev/{name}")
        _bind(f"{old}/dev/{name}", f"{new}/dev/{name}", readonly=False)
    if tree.gpu:
        for name in sorted(os.listdir(old + "/dev")):
            if name.startswith(GPU_DEVICE_PREFIXES):
                _touch(f"{new}/dev/{name}")
                _bind(f"{old}/dev/{name}", f"{new}/dev/{name}", readonly=False)
        if os.path.isdir(old + "/sys"):
            _mkdirs(new + "/sys")
            _bind(old + "/sys", new + "/sys")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{new}/dev/{name}")
    size = f"size={tree.tmp_bytes},uid={uid},gid={gid}"
    _mkdirs(new + "/dev/shm")
    linux.mount("tmpfs", new + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"{size},mode=1777")

    _mkdirs(new + "/proc")
    try:  # needs this process to be pid 1 of a pid namespace its user namespace owns
        linux.mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        missing.append("proc")

    _mkdirs(new + "/tmp")
    linux.mount("tmpfs", new + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"{size},mode=1777")
    os.mkdir(new + tree.work_dir, 0o700)
    os.chown(new + tree.work_dir, uid, gid)

    linux.mount(None, new, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(new)
    linux.pivot_root(".", ".")  # the old root now sits on top of the new one ...
    linux.umount(".")  # ... and goes, with every host mount under it
    os.chdir(tree.work_dir)
    return missing
