"""The seccomp layer: a small classic-BPF filter, built here, loaded through prctl.

No libseccomp: the filter is a list of (syscall, errno) rules assembled by hand
for x86_64 and aarch64. Two policies:

- `namespaced`: namespaces already hold the boundary, so this only takes away
  what a snippet never needs and what attacks the kernel or other processes
  (ptrace, mount, new namespaces, keyrings, bpf, io_uring...) and packet sockets.
- `contained`: no namespaces to rely on, so also no fork, no exec (Python
  snippets only: a shell needs both) and no threads-turned-processes.

Inet sockets are a separate choice (`inet`): allowed only where the child has a
network namespace of its own, whose one interface is its own `lo` (gloo, TCPStore
and torchrun talk between a snippet's processes over 127.0.0.1). Elsewhere they
are refused with EACCES: a clear "Permission denied" rather than a real network.
"""

from __future__ import annotations

import errno
import struct

from kb.sandbox import linux

_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}  # AUDIT_ARCH_*

_NR = {
    "x86_64": {
        "socket": 41, "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322,
        "clone3": 435, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272,
        "setns": 308, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
        "perf_event_open": 298, "userfaultfd": 323, "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "reboot": 169,
        "swapon": 167, "swapoff": 168, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "acct": 163, "syslog": 103, "pidfd_getfd": 438,
        "kcmp": 312,
    },
    "aarch64": {
        "socket": 198, "clone": 220, "execve": 221, "execveat": 281, "clone3": 435,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40,
        "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
        "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241,
        "userfaultfd": 282, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "reboot": 142, "swapon": 224,
        "swapoff": 225, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
        "acct": 89, "syslog": 116, "pidfd_getfd": 438, "kcmp": 272,
    },
}

# Never needed by a snippet; each is a way to reach the kernel or other processes.
_DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "reboot", "swapon", "swapoff", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "open_by_handle_at", "name_to_handle_at", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "acct", "syslog",
    "pidfd_getfd", "kcmp",
)
_INET_FAMILIES = (2, 10)  # AF_INET, AF_INET6
_PACKET_FAMILIES = (17,)  # AF_PACKET: raw frames, never needed, even on a private lo

_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06
_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000
_X32_BIT = 0x40000000
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16  # struct seccomp_data (little-endian: low word first)


def supported() -> bool:
    return linux.available() and linux.MACHINE in _ARCH


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF)


def build(policy: str, *, inet: bool = False) -> bytes:
    """The filter program for `policy` ('namespaced' or 'contained') on this machine;
    `inet`: allow AF_INET/AF_INET6 sockets (only inside a network namespace of its own)."""
    arch = linux.MACHINE
    nr = _NR[arch]
    out = [
        _ins(_LD_W_ABS, _OFF_ARCH),
        _ins(_JEQ, _ARCH[arch], 1, 0),
        _ins(_RET, _KILL_PROCESS),  # another ABI (e.g. i386 via int 0x80) would dodge the rules
        _ins(_LD_W_ABS, _OFF_NR),
    ]
    if arch == "x86_64":  # x32 syscalls carry their own numbers: refuse them all
        out += [_ins(_JGE, _X32_BIT, 0, 1), _ins(_RET, _ERRNO | errno.ENOSYS)]

    def deny(name: str, err: int) -> None:
        if name in nr:
            out.extend([_ins(_JEQ, nr[name], 0, 1), _ins(_RET, _ERRNO | err)])

    def deny_arg0(name: str, values: tuple[int, ...], err: int) -> None:
        block = [_ins(_LD_W_ABS, _OFF_ARG0)]
        for value in values:
            block += [_ins(_JEQ, value, 0, 1), _ins(_RET, _ERRNO | err)]
        block.append(_ins(_LD_W_ABS, _OFF_NR))
        out.append(_ins(_JEQ, nr[name], 0, len(block)))
        out.extend(block)

    for name in _DENIED:
        deny(name, errno.EPERM)
    # clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes glibc use clone
    deny("clone3", errno.ENOSYS)
    deny_arg0("socket", _PACKET_FAMILIES if inet else _INET_FAMILIES + _PACKET_FAMILIES,
              errno.EACCES)
    clone_block = [_ins(_LD_W_ABS, _OFF_ARG0),
                   _ins(_JSET, linux.NAMESPACE_FLAGS, 0, 1), _ins(_RET, _ERRNO | errno.EPERM)]
    if policy == "contained":
        for name in ("fork", "vfork", "execve", "execveat"):
            deny(name, errno.EPERM)
        # threads (CLONE_THREAD) stay allowed; a new process does not
        clone_block += [_ins(_JSET, linux.CLONE_THREAD, 1, 0), _ins(_RET, _ERRNO | errno.EPERM)]
    clone_block.append(_ins(_LD_W_ABS, _OFF_NR))
    out.append(_ins(_JEQ, nr["clone"], 0, len(clone_block)))
    out.extend(clone_block)
    out.append(_ins(_RET, _ALLOW))
    return b"".join(out)


def install(policy: str, inet: bool = False) -> None:
    linux.install_seccomp(build(policy, inet=inet))
