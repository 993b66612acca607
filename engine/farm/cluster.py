"""Reaching a Ray cluster: one address in, one line out when it cannot be reached.

Kept apart from the runner so the CLI, the desktop and the bench all connect the same way, and so
that Ray (a large import) loads only when a farm is asked for.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from types import ModuleType

from engine.errors import RoomtoneError, printable

LOCAL = "local"  # start a cluster inside this process (its machine's CPUs and GPUs) for the run
INSTALL_HINT = 'install the farm extra on the driver and every worker: pip install "roomtone[farm]"'


def farm_status() -> tuple[bool, str]:
    """(available, why not) for rendering on a Ray cluster, asked without importing Ray (the desktop
    asks it at start-up)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        return False, f"Ray is not installed; {INSTALL_HINT}"
    return True, ""


def import_ray() -> ModuleType:
    """Ray, or one line that says how to install it."""
    try:
        import ray
    except ImportError:
        raise RoomtoneError(f"rendering on a Ray cluster needs Ray; {INSTALL_HINT}") from None
    return ray


def check_ray_address(address: str) -> str:
    """'local', 'auto' or HOST:PORT (ray://HOST:PORT for Ray Client); anything else is refused up front."""
    address = address.strip()
    if address in (LOCAL, "auto") or address.startswith("ray://"):
        return address
    host, sep, port = address.rpartition(":")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise RoomtoneError(f"--ray {printable(address)}: give a cluster address HOST:PORT (e.g. 127.0.0.1:6379, "
                            "what `ray start --head` printed) or 'local' to start one in this process")
    return address


@contextlib.contextmanager
def connected(address: str, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Ray, connected to `address` for the block. An existing connection (a test's, the bench's) is
    reused and left open; one made here is closed after, which for 'local' stops its cluster.
    `num_cpus` sizes a 'local' cluster (default: all of this machine's)."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    address = check_ray_address(address)
    options = dict(log_to_driver=False, logging_level=logging.WARNING, configure_logging=True)
    try:
        if address == LOCAL:
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **options)  # always a new one
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        raise RoomtoneError(_unreachable(address, exc)) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _unreachable(address: str, exc: BaseException) -> str:
    """One line for a failed connection; a missing auth token (Ray's default since 2.5x) gets its own remedy."""
    chain, e = [], exc
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    if any("authentication" in type(e).__name__.lower() or "InvalidAuthToken" in str(e) for e in chain):
        return (f"the Ray cluster at {printable(address)} refused this driver's authentication; set "
                "RAY_AUTH_MODE=token and give it the cluster's token (`ray get-auth-token` on the head prints it; "
                "put it in ~/.ray/auth_token or RAY_AUTH_TOKEN) as the README's Render farm says")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (f"cannot reach the Ray cluster at {printable(address)} ({printable(first)}); start one with "
            "`ray start --head` (see the README's Render farm) or use --ray local")
