"""The render farm on a real Ray cluster (see conftest.py: run inside a network namespace).

What a facility relies on: the farm's files are exactly a local run's, a worker killed mid-file
costs nothing but time, and a killed driver's re-run resumes from the manifest.
"""

from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import engine
from tests.conftest import write_tone

ROOT = Path(__file__).resolve().parents[2]


def _inputs(folder: Path, seconds: list[float], broken: bool = False) -> Path:
    for i, s in enumerate(seconds):
        write_tone(folder / ("sub" if i % 2 else "") / f"line{i}.wav", seconds=s, channels=1 + i % 2)
    if broken:
        (folder / "broken.wav").write_bytes(b"RIFF not really")
    return folder


def _same_tree(a: Path, b: Path) -> list[str]:
    """Audio files of both trees, asserting they are the same names with the same bytes."""
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file() and p.name != "roomtone-manifest.json")
    other = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file() and p.name != "roomtone-manifest.json")
    assert names == other
    for name in names:
        assert filecmp.cmp(a / name, b / name, shallow=False), f"{name} differs from the local run's"
    return names


def _local(preset, settings, inputs: Path, out: Path) -> engine.BatchReport:
    runner = engine.BatchRunner(preset, settings, out)
    return runner.run([inputs])


def test_farm_outputs_are_a_local_runs_bytes(cluster, tmp_path, make_preset):
    preset, settings = make_preset(), engine.Settings(stems=True, seed=7, tail_s=0.5)
    inputs = _inputs(tmp_path / "in", [2.0, 3.5, 1.0, 2.5], broken=True)
    local = _local(preset, settings, inputs, tmp_path / "local")
    events = []
    farm = engine.FarmRunner(preset, settings, tmp_path / "farm", cluster.address, progress=events.append).run([inputs])

    assert farm.summary() == local.summary() == "4 rendered, 0 skipped, 1 failed"
    assert [(r.status, r.error) for r in farm.results] == [(r.status, r.error) for r in local.results]
    assert len(_same_tree(tmp_path / "local", tmp_path / "farm")) == 16  # 4 mixes + 12 stems
    done = [e for e in events if e.kind == "file-done"]
    assert len(done) == 4 and all(e.worker for e in done)  # which worker rendered each
    manifest = json.loads((tmp_path / "farm" / "roomtone-manifest.json").read_text())
    assert sorted(e["status"] for e in manifest["files"].values()) == ["done"] * 4 + ["failed"]
    assert not list((tmp_path / "farm").rglob(".*partial*"))
    again = engine.FarmRunner(preset, settings, tmp_path / "farm", cluster.address).run([inputs])
    assert again.summary() == "0 rendered, 4 skipped, 1 failed"


def _descendants_named(root_pid: int, title: str) -> list[int]:
    """Processes below `root_pid` (our cluster, never anyone else's) whose title starts with `title`."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found = []
    for pid in parents:
        p, seen = pid, 0
        while p in parents and p != root_pid and seen < 64:
            p, seen = parents[p], seen + 1
        if p == root_pid:
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(title.encode()):
                    found.append(pid)
            except OSError:
                continue
    return found


def test_a_worker_killed_mid_file_is_retried_and_the_batch_completes(cluster, tmp_path, make_preset):
    preset, settings = make_preset(), engine.Settings(seed=3)
    inputs = _inputs(tmp_path / "in", [12.0, 12.0, 12.0])
    killed: list[int] = []
    stop = threading.Event()

    def kill_one_rendering_worker() -> None:
        while not stop.is_set() and not killed:
            for pid in _descendants_named(cluster.pid, "ray::render_file_task"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_rendering_worker, daemon=True)
    killer.start()
    try:
        farm = engine.FarmRunner(preset, settings, tmp_path / "farm", cluster.address).run([inputs])
    finally:
        stop.set()
        killer.join()
    assert killed, "no rendering worker was found to kill"
    assert farm.summary() == "3 rendered, 0 skipped, 0 failed"
    _local(preset, settings, inputs, tmp_path / "local")
    _same_tree(tmp_path / "local", tmp_path / "farm")  # no partial left either: the trees are equal


def _restyle_cli(cluster, inputs: Path, out: Path, library: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "engine.cli", "restyle", "--quiet", "--library", str(library), "--preset", "Test Room",
           str(inputs), "-o", str(out), "--seed", "5", "--ray", cluster.address, *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_killed_driver_is_resumed_by_running_the_same_command(cluster, tmp_path, make_preset):
    from presets import Library

    library = tmp_path / "library"
    preset = Library(library).add(make_preset("Test Room"))
    inputs = _inputs(tmp_path / "in", [4.0] * 5)
    out = tmp_path / "farm"
    driver = _restyle_cli(cluster, inputs, out, library, "--ray-workers", "1")
    manifest = out / "roomtone-manifest.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None:
        try:
            statuses = [e["status"] for e in json.loads(manifest.read_text())["files"].values()]
        except (OSError, ValueError):
            statuses = []
        if "done" in statuses:
            break
        time.sleep(0.05)
    assert driver.poll() is None, f"the driver ended before it could be killed:\n{driver.communicate()[0]}"
    driver.kill()
    driver.wait()
    rendered_before = [e["status"] for e in json.loads(manifest.read_text())["files"].values()].count("done")
    assert 1 <= rendered_before < 5

    rerun = _restyle_cli(cluster, inputs, out, library)
    text = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, text
    assert f"{5 - rendered_before} rendered, {rendered_before} skipped, 0 failed" in text
    _local(preset, engine.Settings(seed=5), inputs, tmp_path / "local")
    _same_tree(tmp_path / "local", out)


def test_cancel_stops_remote_work_and_leaves_nothing_that_looks_finished(cluster, tmp_path, make_preset):
    preset, settings = make_preset(), engine.Settings(seed=1)
    inputs = _inputs(tmp_path / "in", [6.0] * 4)
    cancel = engine.CancelToken()

    def on_event(e: engine.ProgressEvent) -> None:
        if e.kind == "file-done":
            cancel.cancel()

    report = engine.FarmRunner(preset, settings, tmp_path / "farm", cluster.address, progress=on_event,
                               cancel=cancel, workers=2).run([inputs])
    assert report.cancelled and report.count("done") >= 1 and report.count("cancelled") >= 1
    for r in report.results:
        assert all(Path(p).is_file() for p in r.outputs.values()) == (r.status == "done")
    assert not list((tmp_path / "farm").rglob(".*partial*"))
    again = engine.FarmRunner(preset, settings, tmp_path / "farm", cluster.address).run([inputs])
    assert again.ok and again.count("skipped") == report.count("done")
    _local(preset, settings, inputs, tmp_path / "local")
    _same_tree(tmp_path / "local", tmp_path / "farm")
