"""Run a command inside a network namespace of its own, where only loopback exists.

Ray binds to the machine's primary interface even when told 127.0.0.1; in an empty namespace it
can use nothing but loopback, so tests that start a cluster talk to no address but 127.0.0.1.
Making one needs CAP_SYS_ADMIN (root); `problem()` says why not where it cannot be made.

    python tests/netns.py CMD [ARGS...]   # unshare the network, bring lo up, exec CMD

No `unshare` or `ip` binary is needed: the namespace is made with unshare(2) and lo is brought up
with one ioctl, so CI needs nothing beyond Python.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import os
import socket
import struct
import subprocess
import sys

INSIDE_ENV = "ROOMTONE_TEST_NETNS"  # set to "1" in the command's environment inside the namespace
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def inside() -> bool:
    return os.environ.get(INSIDE_ENV) == "1"


def enter() -> None:
    """Move this process into a new network namespace and bring its loopback up; OSError if refused."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))


@functools.lru_cache(maxsize=1)
def problem() -> str | None:
    """None where a namespace can be made here, else the reason (for a test's skip)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    probe = subprocess.run([sys.executable, __file__, sys.executable, "-c", "pass"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"cannot make a network namespace here (needs root / CAP_SYS_ADMIN): {last}"
    return None


def command(argv: list[str]) -> list[str]:
    """`argv`, to be run inside a fresh network namespace."""
    return [sys.executable, os.path.abspath(__file__), *argv]


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: netns.py CMD [ARGS...]")
    try:
        enter()
    except OSError as exc:
        sys.exit(f"error: {exc}")
    os.environ[INSIDE_ENV] = "1"
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
