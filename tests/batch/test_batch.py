import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine import CancelToken, Settings
from engine.batch import MANIFEST_NAME, BatchRunner
from engine.errors import OutputError
from tests.conftest import write_tone

REPO = Path(__file__).resolve().parents[2]


def _folder(root: Path) -> Path:
    src = root / "in"
    write_tone(src / "a.wav", 1.0)
    write_tone(src / "sub" / "b.flac", 0.7, channels=2, subtype="PCM_16")
    write_tone(src / "sub" / "deeper" / "c.aiff", 0.5, rate=44100)
    (src / "notes.txt").write_text("not audio")
    return src


def test_folder_is_mirrored_and_formats_kept(tmp_path, make_preset):
    src = _folder(tmp_path)
    events = []
    runner = BatchRunner(make_preset(), Settings(stems=True), tmp_path / "out", progress=events.append)
    plan = runner.plan([src])
    assert any("notes.txt" in n and "not an audio file" in n for n in plan.notes)
    report = runner.run(plan)
    assert report.ok and report.count("done") == 3
    for rel in ("a.wav", "sub/b.flac", "sub/deeper/c.aiff"):
        i, o = sf.info(str(src / rel)), sf.info(str(tmp_path / "out" / rel))
        assert (o.samplerate, o.channels, o.frames, o.subtype, o.format) == (
            i.samplerate, i.channels, i.frames, i.subtype, i.format)
    mix, _ = sf.read(tmp_path / "out" / "a.wav", always_2d=True)
    stems = [sf.read(tmp_path / "out" / f"a.{s}.wav", always_2d=True)[0] for s in ("dialogue", "reverb", "ambience")]
    assert np.abs(sum(stems) - mix).max() < 3 * 2.0**-23 * 2  # PCM_24 rounding of 4 files
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert {e["status"] for e in manifest["files"].values()} == {"done"}
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert events[-1].kind == "done"


def _bad_inputs(root: Path) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "empty.wav").write_bytes(b"")
    (root / "text.wav").write_text("this is not a wave file\n" * 10)
    write_tone(root / "whole.wav", 0.5, subtype="PCM_16")
    data = (root / "whole.wav").read_bytes()
    (root / "truncated.wav").write_bytes(data[: len(data) // 2])
    (root / "whole.wav").unlink()
    sf.write(root / "zero.wav", np.zeros((0, 1), np.float32), 48000)
    bad = np.full((4800, 1), 0.1, np.float32)
    bad[100] = np.nan
    sf.write(root / "nan.wav", bad, 48000, subtype="FLOAT")
    bad[100] = np.inf
    sf.write(root / "inf.wav", bad, 48000, subtype="FLOAT")
    return {"empty.wav": "empty", "text.wav": "not", "truncated.wav": "truncated", "zero.wav": "no audio|0 frames|empty",
            "nan.wav": "NaN", "inf.wav": "NaN"}


def test_bad_inputs_fail_one_line_each_and_batch_goes_on(tmp_path, make_preset):
    import re

    expected = _bad_inputs(tmp_path / "in")
    write_tone(tmp_path / "in" / "eight.wav", 0.3, channels=8)
    write_tone(tmp_path / "in" / "hires.wav", 0.3, rate=192000)
    report = BatchRunner(make_preset(), Settings(), tmp_path / "out").run([tmp_path / "in"])
    by_name = {Path(r.source).name: r for r in report.results}
    for name, pattern in expected.items():
        r = by_name[name]
        assert r.status == "failed", name
        assert "\n" not in r.error and re.search(pattern, r.error, re.I), (name, r.error)
        assert not (tmp_path / "out" / name).exists()
    assert by_name["eight.wav"].status == "done" and by_name["hires.wav"].status == "done"
    assert sf.info(str(tmp_path / "out" / "eight.wav")).channels == 8
    assert sf.info(str(tmp_path / "out" / "hires.wav")).samplerate == 192000


def test_unreadable_folder_is_reported(tmp_path):
    """Root reads every folder, so as root the check runs without the DAC-override capabilities."""
    write_tone(tmp_path / "ok" / "a.wav", 0.2)
    write_tone(tmp_path / "locked" / "b.wav", 0.2)
    os.chmod(tmp_path / "locked", 0o000)
    code = textwrap.dedent(f"""
        from pathlib import Path
        from engine.batch import discover
        files, notes, errors = discover([Path({str(tmp_path)!r})])
        print([str(f[1]) for f in files]); print(errors)
    """)
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a folder unreadable")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    try:
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    finally:
        os.chmod(tmp_path / "locked", 0o755)
    assert out.returncode == 0, out.stderr
    assert "ok/a.wav" in out.stdout and "b.wav" not in out.stdout
    assert "locked" in out.stdout and "cannot read folder" in out.stdout


CRASH = """
import os, sys
from pathlib import Path
from presets import Library
from engine import Settings
from engine.batch import BatchRunner
preset = Library(sys.argv[1], factory_dir=None).get("Test Room")
def die(e):
    if e.kind == "file-progress" and e.index == 1 and e.file_fraction > 0.7:
        os._exit(9)  # a hard kill: no cleanup, no finally
BatchRunner(preset, Settings(stems=True), sys.argv[2], progress=die).run([sys.argv[3]])
"""


def test_resume_after_crash(tmp_path, make_preset):
    from presets import Library

    Library(tmp_path / "lib", factory_dir=None).add(make_preset())
    src = tmp_path / "in"
    for name in ("1.wav", "2.wav", "3.wav"):
        write_tone(src / name, 6.0)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", CRASH, str(tmp_path / "lib"), str(out), str(src)], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 9, r.stderr
    finished = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert "1.wav" in finished and "2.wav" not in finished and "3.wav" not in finished
    assert not any(p.suffix in (".wav", ".json") and "partial" in p.name for p in out.iterdir())
    mtime_1 = (out / "1.wav").stat().st_mtime_ns
    preset = Library(tmp_path / "lib", factory_dir=None).get("Test Room")
    report = BatchRunner(preset, Settings(stems=True), out).run([src])
    status = {Path(r.source).name: r.status for r in report.results}
    assert status == {"1.wav": "skipped", "2.wav": "done", "3.wav": "done"}
    assert (out / "1.wav").stat().st_mtime_ns == mtime_1
    assert not [p for p in out.iterdir() if "partial" in p.name]  # stale temporaries cleaned
    # changed settings are not "complete": re-rendered, since the manifest says we own the files
    report = BatchRunner(preset, Settings(stems=True, seed=5), out).run([src])
    assert report.count("done") == 3


def test_existing_foreign_output_needs_overwrite(tmp_path, make_preset):
    write_tone(tmp_path / "in" / "a.wav", 0.3)
    write_tone(tmp_path / "out" / "a.wav", 0.3)
    report = BatchRunner(make_preset(), Settings(), tmp_path / "out").run([tmp_path / "in"])
    assert report.failures and "--overwrite" in report.failures[0].error
    assert BatchRunner(make_preset(), Settings(), tmp_path / "out", overwrite=True).run([tmp_path / "in"]).ok


def test_output_onto_input_is_refused(tmp_path, make_preset):
    """Refused for the whole batch, before anything runs: the command itself needs changing."""
    write_tone(tmp_path / "a.wav", 0.3)
    before = (tmp_path / "a.wav").read_bytes()
    with pytest.raises(OutputError, match="would overwrite the input"):
        BatchRunner(make_preset(), Settings(), tmp_path, overwrite=True).run([tmp_path / "a.wav"])
    assert (tmp_path / "a.wav").read_bytes() == before
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_cancel_leaves_no_partial_outputs(tmp_path, make_preset):
    for name in ("1.wav", "2.wav"):
        write_tone(tmp_path / "in" / name, 8.0)
    token = CancelToken()

    def cancel_midway(e):
        if e.kind == "file-progress" and e.file_fraction > 0.6:
            token.cancel()

    report = BatchRunner(make_preset(), Settings(stems=True), tmp_path / "out", progress=cancel_midway,
                         cancel=token).run([tmp_path / "in"])
    assert report.cancelled and not report.ok
    assert [p.name for p in (tmp_path / "out").iterdir()] == [MANIFEST_NAME]
