"""The Linux calls the sandbox needs that the standard library lacks, through ctypes.

Python 3.11 has no os.unshare, mount, pivot_root, prctl or capset; these thin
wrappers raise OSError with the call's name, so a failing layer says which step
failed. Everything here is a no-op description off Linux: `available()` is False.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import socket
import struct
import sys

# clone/unshare flags (linux/sched.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000
NAMESPACE_FLAGS = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                   | CLONE_NEWPID | CLONE_NEWNET)

# mount flags (linux/mount.h)
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MNT_DETACH = 0x2

# prctl options (linux/prctl.h)
PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2

# network interface ioctls (linux/sockios.h, linux/if.h)
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = "16sH22x"  # struct ifreq: the name, then ifr_flags in a 24-byte union

# statvfs f_flag bits that a bind remount must keep (a user namespace may not clear them)
ST_TO_MS = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME,
            2048: MS_NODIRATIME, 4096: MS_RELATIME}

MACHINE = platform.machine()
# Syscalls without a libc wrapper in older glibc, by architecture (asm/unistd*.h).
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126},
    "aarch64": {"pivot_root": 41, "capset": 91},
}

_libc: ctypes.CDLL | None = None


def available() -> bool:
    return sys.platform.startswith("linux") and MACHINE in _SYSCALLS


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def unshare(flags: int) -> None:
    _check(_c().unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_c().setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def bring_up_loopback() -> None:
    """Set IFF_UP on `lo` in this network namespace (needs CAP_NET_ADMIN in it).

    A new network namespace holds only `lo`, and down: then even 127.0.0.1 is
    unreachable, and gloo, TCPStore and torchrun cannot talk between a snippet's own
    processes. Up, it carries 127.0.0.1 and ::1 and nothing else: the namespace
    has no other interface and no route, so outside addresses stay unreachable."""
    import fcntl  # POSIX only: this module must import everywhere

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            got = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
            flags = struct.unpack(_IFREQ, got)[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))
        except OSError as exc:
            raise OSError(exc.errno, f"bring up lo: {os.strerror(exc.errno or 0)}") from None


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    _check(_c().mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
           f"mount {target}")


def umount(target: str, flags: int = MNT_DETACH) -> None:
    _check(_c().umount2(_b(target), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    nr = _SYSCALLS[MACHINE]["pivot_root"]
    _check(_c().syscall(ctypes.c_long(nr), _b(new_root), _b(put_old)), "pivot_root")


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    _check(_c().prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                      ctypes.c_ulong(0), ctypes.c_ulong(0)), f"prctl({option})")


def set_parent_death_signal(sig: int) -> None:
    """Die with `sig` when the parent dies. Cleared by any credential change (setuid,
    unshare of a user namespace): call it again after those."""
    prctl(PR_SET_PDEATHSIG, sig)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Empty the bounding, ambient, effective, permitted and inheritable sets, so that
    neither this process nor anything it execs (even as uid 0) holds a capability."""
    last = _last_cap()
    for cap in range(last + 1):
        with contextlib.suppress(OSError):  # EINVAL for caps this kernel does not know
            prctl(PR_CAPBSET_DROP, cap)
    with contextlib.suppress(OSError):  # kernels before 4.3 have no ambient set
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    nr = _SYSCALLS[MACHINE]["capset"]
    _check(_c().syscall(ctypes.c_long(nr), ctypes.byref(header), ctypes.byref(data)), "capset")


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 63


def install_seccomp(program: bytes) -> None:
    """Load a classic-BPF seccomp filter (sock_filter records, 8 bytes each)."""

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    _check(_c().prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                      ctypes.byref(prog), ctypes.c_ulong(0), ctypes.c_ulong(0)), "seccomp")
