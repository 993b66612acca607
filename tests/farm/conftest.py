"""Farm tests run on a real Ray cluster, inside a network namespace made for them (tests/netns.py).

In a plain `pytest` run the farm tests selected here run once, all together, in one child pytest
inside a fresh namespace (one cluster for all of them); each test out here then reports the
child's outcome for it: passed, failed with the child's message, or skipped with its reason. So
`pytest` and `.ci/run` need nothing special, and nothing of ours talks to any address but loopback.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import netns

ROOT = Path(__file__).resolve().parents[2]
INNER_TIMEOUT_S = 1200
CLUSTER_CPUS = 2
_OUTCOMES: dict[str, tuple[str, str]] | None = None


def _skip_reason() -> str | None:
    try:
        import ray  # noqa: F401
    except ImportError:
        return 'Ray is not installed (the farm extra: pip install ".[farm]")'
    return netns.problem()


def _run_inside(session: pytest.Session) -> dict[str, tuple[str, str]]:
    """{nodeid: (outcome, message)} of every farm test of this session, run in one namespace."""
    here = Path(__file__).parent
    ids = [item.nodeid for item in session.items if Path(item.path).parent == here]
    reason = _skip_reason()
    if reason:
        return {i: ("skipped", reason) for i in ids}
    with tempfile.TemporaryDirectory(prefix="roomtone-netns-") as tmp:
        xml = Path(tmp) / "results.xml"
        cmd = netns.command([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *ids])
        try:
            proc = subprocess.run(cmd, cwd=session.config.rootpath, capture_output=True, text=True,
                                  timeout=INNER_TIMEOUT_S)
            log = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            log = f"the tests in the network namespace ran past {INNER_TIMEOUT_S} s\n{exc.stdout or ''}"
        outcomes = _parse(xml) if xml.exists() else {}
    tail = "\n".join(log.strip().splitlines()[-40:])
    return {i: outcomes.get(i, ("failed", f"no result from the namespace run:\n{tail}")) for i in ids}


def _parse(xml: Path) -> dict[str, tuple[str, str]]:
    found = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        nodeid = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", f"{child.get('message', '')}\n{child.text or ''}"
            elif child.tag == "skipped":
                outcome, message = "skipped", child.get("message", "")
        found[nodeid] = (outcome, message)
    return found


def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """Outside the namespace, a farm test's body is the child's result for it."""
    if netns.inside():
        return None
    global _OUTCOMES
    if _OUTCOMES is None:
        _OUTCOMES = _run_inside(pyfuncitem.session)
    outcome, message = _OUTCOMES.get(pyfuncitem.nodeid, ("failed", "not run in the namespace"))
    if outcome == "skipped":
        pytest.skip(message)
    if outcome == "failed":
        pytest.fail(f"in the network namespace:\n{message}", pytrace=False)
    return True


@dataclass(frozen=True)
class Cluster:
    address: str
    pid: int  # `ray start --block`: every process of the cluster descends from it
    env: dict  # what a driver run against it needs (PYTHONPATH: this checkout, as the workers have)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A real Ray cluster (`ray start --head`, 2 CPUs, no GPU) on loopback; None outside the namespace."""
    if not netns.inside():
        yield None
        return
    port = _free_port()
    # RAY_AUTH_MODE=token: a token-authenticated cluster, and drivers must say so. Ray 2.60's `ray
    # start` no longer makes the token itself: the test cluster gets its own, through the environment.
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    temp = tempfile.mkdtemp(prefix="rt-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    log = open(tmp_path_factory.mktemp("ray") / "ray-start.log", "w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={port}",
         "--node-ip-address=127.0.0.1", f"--num-cpus={CLUSTER_CPUS}", "--num-gpus=0", f"--temp-dir={temp}",
         "--include-dashboard=false", "--disable-usage-stats"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, proc)
        yield Cluster(f"127.0.0.1:{port}", proc.pid, env)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # our own process group: the cluster and nothing else
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):  # what SIGTERM left (Ray's children linger)
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()


def _wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float = 90.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the Ray head did not listen on port {port} within {timeout_s:.0f} s")
