"""Every OS refusal around outputs and the manifest is one `error:` line and a non-zero exit."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from engine import RoomtoneError, Settings
from engine.batch import BatchRunner
from tests.conftest import write_tone
from tests.hostile.conftest import run_unprivileged

PRESET = ("--preset", "Test Room")


def test_output_folder_below_a_file(tmp_path, cli):
    write_tone(tmp_path / "a.wav", 0.3)
    (tmp_path / "file.txt").write_text("a file, not a folder")
    r = cli("restyle", "--quiet", *PRESET, tmp_path / "a.wav", "-o", tmp_path / "file.txt" / "out")
    assert r.code == 1
    assert len(r.errors) == 1 and "file.txt" in r.errors[0], r.err


@pytest.mark.parametrize("command", ["restyle", "preview"])
def test_read_only_output_folder(tmp_path, lib, command):
    write_tone(tmp_path / "a.wav", 0.3)
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    out = tmp_path / "ro" / ("a.wav" if command == "preview" else "")
    try:
        r = run_unprivileged([command, "--quiet", *PRESET, str(tmp_path / "a.wav"), "-o", str(out)], lib)
    finally:
        os.chmod(tmp_path / "ro", 0o755)
    assert "Traceback" not in r.err, r.err
    assert r.code == 1
    assert len(r.errors) == 1 and "ro" in r.errors[0] and "ermission" in r.errors[0], r.err


def test_output_folder_vanishing_mid_batch(tmp_path, make_preset):
    for name in ("1.wav", "2.wav"):
        write_tone(tmp_path / "in" / name, 0.3)
    out = tmp_path / "out"

    def unplug(e):
        if e.kind == "file-done":
            shutil.rmtree(out)

    with pytest.raises(RoomtoneError) as caught:
        BatchRunner(make_preset(), Settings(), out, progress=unplug).run([tmp_path / "in"])
    assert str(out) in str(caught.value) and "\n" not in str(caught.value)


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {r.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("fill", [True, False], ids=["full", "room-for-the-manifest-only"])
def test_full_disk(tmp_path, cli, tiny_disk, fill):
    write_tone(tmp_path / "in" / "a.wav", 1.0)
    write_tone(tmp_path / "in" / "b.wav", 1.0)
    if fill:
        with open(tiny_disk / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
    r = cli("restyle", "--quiet", *PRESET, tmp_path / "in", "-o", tiny_disk / "out")
    assert r.code == 1
    assert r.errors and all("space" in e for e in r.errors), r.err
    assert len(r.errors) == (1 if fill else 2), r.err
    leftovers = [p.name for p in (tiny_disk / "out").iterdir()] if (tiny_disk / "out").exists() else []
    assert not [n for n in leftovers if "partial" in n or n.startswith(".roomtone-manifest")], leftovers
