"""Input discovery: links, loops, depth, permissions and odd names cost at most one line each."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import soundfile as sf

from engine import batch
from engine.batch import discover
from tests.conftest import write_tone
from tests.hostile.conftest import REPO, run_unprivileged

PRESET = ("--preset", "Test Room")


def test_symlink_loops_visit_each_real_folder_once(tmp_path):
    write_tone(tmp_path / "in" / "a.wav", 0.2)
    write_tone(tmp_path / "in" / "sub" / "b.wav", 0.2)
    os.symlink(".", tmp_path / "in" / "self")
    os.symlink("../in", tmp_path / "in" / "up")
    os.symlink("..", tmp_path / "in" / "sub" / "back")
    code = textwrap.dedent(f"""
        from pathlib import Path
        from engine.batch import discover
        files, notes, errors = discover([Path({str(tmp_path / "in")!r})])
        print(sorted(rel.as_posix() for _, rel in files), errors)
    """)
    # today's code takes more than ten minutes on this tree: a child process, so a hang fails, not stalls
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['a.wav', 'sub/b.wav'] []"


def test_deep_nesting_is_bounded_and_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # restored after the test
    write_tone(tmp_path / "in" / "a" / "top.wav", 0.2)
    levels = 1100  # deeper than Python's recursion limit, shorter than PATH_MAX
    try:
        os.chdir(tmp_path / "in" / "a")
        for _ in range(levels):
            os.mkdir("d")
            os.chdir("d")
        os.rename(write_tone(tmp_path / "bottom.wav", 0.2), "bottom.wav")
        files, _, errors = discover([tmp_path / "in"])
    finally:
        _remove_chain(tmp_path / "in" / "a", levels)
    assert [rel.as_posix() for _, rel in files] == ["a/top.wav"]
    assert len(errors) == 1 and "deep" in errors[0][1], errors


def _remove_chain(top, levels):
    """Bottom up, one level at a time (pytest's own clean-up recurses and could not remove it)."""
    os.chdir(top)
    for _ in range(levels):
        os.chdir("d")
    for name in os.listdir("."):
        os.unlink(name)
    for _ in range(levels):
        os.chdir("..")
        os.rmdir("d")
    os.chdir(top.parent.parent)


def test_walk_is_bounded_in_entries(tmp_path, monkeypatch):
    for k in range(10):
        write_tone(tmp_path / "in" / f"{k}.wav", 0.05)
    monkeypatch.setattr(batch, "MAX_WALK_ENTRIES", 4, raising=False)
    files, _, errors = discover([tmp_path / "in"])
    assert len(files) == 4
    assert len(errors) == 1 and "entries" in errors[0][1], errors


def test_explicit_file_in_unreadable_folder_is_one_line(tmp_path, lib):
    write_tone(tmp_path / "ok" / "a.wav", 0.3)
    write_tone(tmp_path / "locked" / "b.wav", 0.3)
    os.chmod(tmp_path / "locked", 0o000)
    try:
        r = run_unprivileged(["restyle", "--quiet", *PRESET, str(tmp_path / "ok" / "a.wav"),
                              str(tmp_path / "locked" / "b.wav"), "-o", str(tmp_path / "out")], lib)
    finally:
        os.chmod(tmp_path / "locked", 0o755)
    assert "Traceback" not in r.err, r.err
    assert r.code == 1
    assert len(r.errors) == 1 and "b.wav" in r.errors[0] and "permission" in r.errors[0].lower(), r.err
    assert (tmp_path / "out" / "a.wav").is_file()


def test_odd_file_names(tmp_path, cli):
    """A backslash works, a newline stays on one line, bytes that are no UTF-8 are one line for that file."""
    src = tmp_path / "in"
    write_tone(src / "back\\slash.wav", 0.3)
    write_tone(src / "plain.wav", 0.3)
    write_tone(src / "good\nline.wav", 0.3)
    (src / "new\nline.wav").write_text("not audio")
    odd = os.fsencode(src) + b"/caf\xe9.wav"
    os.rename(write_tone(tmp_path / "latin1.wav", 0.3), odd)
    r = cli("restyle", "--quiet", *PRESET, src, "-o", tmp_path / "out")
    assert r.code == 1
    for name in ("back\\slash.wav", "good\nline.wav", "plain.wav"):
        assert (tmp_path / "out" / name).is_file(), name
    newline = [e for e in r.errors if "new\\nline.wav" in e]
    assert len(newline) == 1 and "line.wav" not in r.err.replace("new\\nline.wav", ""), r.err
    latin1 = [e for e in r.errors if "caf" in e]
    rendered = os.path.exists(os.fsencode(tmp_path / "out") + b"/caf\xe9.wav")
    assert rendered or (len(latin1) == 1 and "caf\\xe9.wav" in latin1[0] and "UTF-8" in latin1[0]), r.err
    assert len(r.errors) == 1 + (not rendered), r.err


def test_rf64_files_in_a_folder_are_found(tmp_path, cli):
    t = np.arange(48000) / 48000
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "long.rf64", (0.1 * np.sin(2 * np.pi * 220 * t))[:, None], 48000,
             format="RF64", subtype="PCM_24")
    r = cli("restyle", "--quiet", *PRESET, tmp_path / "in", "-o", tmp_path / "out")
    assert r.code == 0 and r.out.startswith("1 rendered"), r.out
    assert sf.info(str(tmp_path / "out" / "long.rf64")).frames == 48000
