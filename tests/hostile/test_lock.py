"""One run per output folder: a second waits its turn by refusing; a killed run's leftovers are taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import write_tone
from tests.hostile.conftest import REPO

PRESET = ("--preset", "Test Room")

# A batch that stops in the middle of rendering (its partial file on disk) until told to go on.
PAUSED = """
import sys, time
from pathlib import Path
from presets import Library
from engine import Settings
from engine.batch import BatchRunner
lib, out, src, go = sys.argv[1:]
preset = Library(lib, factory_dir=None).get("Test Room")
def pause(e):
    if e.kind == "file-progress" and e.file_fraction > 0.7 and not Path(go).exists():
        print("paused", flush=True)
        while not Path(go).exists():
            time.sleep(0.05)
report = BatchRunner(preset, Settings(), out, progress=pause).run([src])
print(report.count("done"), [r.error for r in report.failures], flush=True)
"""


def test_second_run_into_a_busy_output_folder_is_refused(tmp_path, lib, cli):
    write_tone(tmp_path / "first" / "a.wav", 4.0)
    write_tone(tmp_path / "second" / "b.wav", 0.3)
    go = tmp_path / "go"
    child = subprocess.Popen([sys.executable, "-c", PAUSED, str(lib), str(tmp_path / "out"), str(tmp_path / "first"),
                              str(go)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "paused", child.stderr.read()
        r = cli("restyle", "--quiet", *PRESET, tmp_path / "second", "-o", tmp_path / "out")
        go.touch()
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert r.code == 1
    assert len(r.errors) == 1 and str(tmp_path / "out") in r.errors[0] and str(child.pid) in r.errors[0], r.err
    assert not (tmp_path / "out" / "b.wav").exists()
    assert child.returncode == 0 and out.strip() == "1 []", err  # the first run finished untouched
    manifest = json.loads((tmp_path / "out" / "roomtone-manifest.json").read_text())
    assert [e["status"] for e in manifest["files"].values()] == ["done"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.wav", "roomtone-manifest.json"]


def test_a_killed_runs_lock_and_manifest_temporaries_are_taken_over(tmp_path, cli):
    write_tone(tmp_path / "in" / "a.wav", 0.3)
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".roomtone-lock").write_text(f"{dead.pid}\n")
    (out / ".roomtone-manifest.json.k1ll3d").write_text('{"version": 1, "fi')
    r = cli("restyle", "--quiet", *PRESET, tmp_path / "in", "-o", out)
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["a.wav", "roomtone-manifest.json"]


def test_the_lock_names_its_owner_while_a_run_holds_it(tmp_path, make_preset):
    from engine import Settings
    from engine.batch import LOCK_NAME, BatchRunner

    write_tone(tmp_path / "in" / "a.wav", 0.3)
    seen = []

    def look(e):
        if e.kind == "file-start":
            seen.append((tmp_path / "out" / LOCK_NAME).read_text().strip())

    assert BatchRunner(make_preset(), Settings(), tmp_path / "out", progress=look).run([tmp_path / "in"]).ok
    assert seen == [str(os.getpid())]
    assert not (tmp_path / "out" / LOCK_NAME).exists()
