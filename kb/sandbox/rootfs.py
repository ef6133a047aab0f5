"""The filesystem a snippet sees: a private, read-only tree with only the system
directories and the Python installation in it, a writable /tmp (its work dir is
there) and a private /dev/shm, both size-limited tmpfs that vanish with the run.

Two steps, so that each snippet pays for few mounts:
- `prepare`, once, in the zygote's own mount namespace: a tmpfs over /tmp becomes
  the tree's root, filled with read-only bind mounts (the sources are opened
  first, so paths under /tmp stay reachable) and a minimal /dev, then made
  read-only;
- `enter`, in each child's own copy of that namespace: a fresh /tmp, /dev/shm and
  /proc, a passwd file naming its uid, then pivot_root into the tree and detach
  the host's. Nothing under /home, /root or the project is in the tree, so a
  snippet cannot read the user's files, and nothing it writes outlives it.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable

from kb.record import record
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

# where the tree may be assembled, in the zygote's own mount namespace (see choose_root:
# never a directory the Python installation lives under, or the zygote would lose its
# own imports once the tree covers it)
ROOT_CANDIDATES = ("/tmp", "/mnt", "/media", "/srv", "/var/tmp", "/opt")
# Python directories under /tmp (a venv in a CI checkout there) would vanish under each
# child's fresh /tmp: they are staged here in the tree and bound back into it by `enter`.
STAGE = "/.kb-under-tmp"
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")
GPU_DEVICE_PREFIXES = ("nvidia",)


@record
class Bind:
    target: str  # where the snippet sees it (as Python names it)
    source: str  # the host path with symlinks resolved


@record
class PreparedRoot:
    """The read-only tree `prepare` built, for `enter` to make each child's root."""

    path: str  # where it is mounted (one of ROOT_CANDIDATES)
    under_tmp: tuple[str, ...] = ()  # Python dirs under /tmp, staged at STAGE in the tree

    def mount_point(self, target: str) -> str:
        """Where `target` (as the snippet sees it) is mounted in the tree."""
        return self.path + (STAGE + target if _within(target, "/tmp") else target)


@record
class Tree:
    """What one child needs on top of the prepared tree."""

    work_dir: str  # cwd and HOME, inside the private /tmp
    tmp_bytes: int
    owner: tuple[int, int]  # uid, gid owning /tmp and the work dir (as the snippet runs)


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


def choose_root(binds: Iterable[Bind]) -> str:
    """The first candidate directory that holds none of the Python installation."""
    needed = [p for b in binds for p in (b.source, b.target)]
    needed += [os.path.realpath(p) for p in sys.path if p and os.path.isabs(p)]
    needed.append(os.path.dirname(os.path.realpath(__file__)))
    for candidate in ROOT_CANDIDATES:
        real = os.path.realpath(candidate)
        if os.path.isdir(candidate) and not os.path.islink(candidate) and \
                not any(_within(p, real) for p in needed):
            return candidate
    raise OSError(f"no directory to build the sandbox tree in among {ROOT_CANDIDATES}")


def _open_sources(binds: tuple[Bind, ...], gpu: bool, sources: dict[str, tuple[int, bool]],
                  links: dict[str, str]) -> None:
    """Open (O_PATH) every host path the tree shows, into `sources` by target, as it
    goes: the caller closes whatever was opened, also when this fails half-way. System
    directories that are symlinks (/lib -> usr/lib) go into `links` instead."""

    def source(host: str, target: str) -> None:
        if target not in sources:
            sources[target] = (os.open(host, os.O_PATH | os.O_CLOEXEC), os.path.isdir(host))

    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            links[path] = os.readlink(path)
        elif os.path.isdir(path):
            source(path, path)
    for bind in binds:
        if not any(_within(bind.target, t) for t in sources):
            source(bind.source, bind.target)
    devices = [f"/dev/{n}" for n in DEVICES]
    if gpu:
        devices += [f"/dev/{n}" for n in sorted(os.listdir("/dev"))
                    if n.startswith(GPU_DEVICE_PREFIXES)]
        if os.path.isdir("/sys"):
            source("/sys", "/sys")
    for dev in devices:
        source(dev, dev)


def prepare(binds: Iterable[Bind], gpu: bool = False) -> PreparedRoot:
    """Build the read-only tree (at `choose_root`). Call once, after unshare(CLONE_NEWNS),
    in the process whose children will `enter` it (they get copies of this namespace)."""
    binds = tuple(binds)
    top = choose_root(binds)
    linux.mount(None, "/", None, MS_REC | MS_PRIVATE)
    links: dict[str, str] = {}
    sources: dict[str, tuple[int, bool]] = {}  # target -> (O_PATH fd, is a directory)
    try:
        _open_sources(binds, gpu, sources, links)
        linux.mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        _mkdirs(top + "/dev")
        linux.mount("tmpfs", top + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
                    "size=64k,mode=0755")
        root = PreparedRoot(top, tuple(t for t in sorted(sources) if _within(t, "/tmp")))
        for target, (fd, is_dir) in sorted(sources.items()):
            point = root.mount_point(target)
            if is_dir:
                _mkdirs(point)
            else:
                _mkdirs(os.path.dirname(point))
                _touch(point)
            _bind(f"/proc/self/fd/{fd}", point, readonly=not target.startswith("/dev/"))
        for path, target in links.items():
            os.symlink(target, top + path)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            os.symlink(target, f"{top}/dev/{name}")
        for path in ("/dev/shm", "/proc", "/tmp"):
            _mkdirs(top + path)
        linux.mount(None, top + "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
        linux.mount(None, top, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    finally:
        for fd, _ in sources.values():
            os.close(fd)
    return root


def enter(tree: Tree, root: PreparedRoot) -> list[str]:
    """Make the prepared tree this mount namespace's root, with a fresh /tmp, /dev/shm
    and /proc. Returns what was left out (e.g. 'proc'), for the isolation report. Call
    after unshare(CLONE_NEWNS), as pid 1 of a new pid namespace (for /proc)."""
    top = root.path
    missing: list[str] = []
    uid, gid = tree.owner
    size = f"size={tree.tmp_bytes},uid={uid},gid={gid},mode=1777"
    linux.mount("tmpfs", top + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, size)
    linux.mount("tmpfs", top + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, size)
    try:  # needs this process to be pid 1 of a pid namespace its user namespace owns
        linux.mount("proc", top + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        missing.append("proc")
    if uid != 0:  # a name for the snippet's own uid (whoami, getpass), and no host users
        for name, text in (("passwd", f"root:x:0:0:root:/root:/bin/sh\n"
                                      f"sandbox:x:{uid}:{gid}:kb sandbox:{tree.work_dir}:/bin/sh\n"
                                      "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
                           ("group", f"root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n")):
            staged = f"{top}/tmp/.{name}"
            with open(staged, "w") as f:
                f.write(text)
            if os.path.isfile(f"{top}/etc/{name}"):
                _bind(staged, f"{top}/etc/{name}")
            os.unlink(staged)  # the bind mount keeps the file; /tmp stays empty
    for target in root.under_tmp:  # back to where Python looks for them, read-only
        _mkdirs(top + target)
        _bind(top + STAGE + target, top + target)
    os.mkdir(top + tree.work_dir, 0o700)
    os.chown(top + tree.work_dir, uid, gid)
    os.chdir(top)
    linux.pivot_root(".", ".")  # the old root now sits on top of the new one ...
    linux.umount(".")  # ... and goes, with every host mount under it
    os.chdir(tree.work_dir)
    return missing
