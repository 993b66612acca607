"""`roomtone restyle --ray`: a bad address is one line before any work; `--ray local` renders a folder."""

from __future__ import annotations

import filecmp
import subprocess
import sys

import pytest

from engine.cli import main
from tests.conftest import write_tone


def test_a_bad_ray_address_is_one_line_before_any_work(tmp_path, capsys):
    write_tone(tmp_path / "in" / "a.wav")
    code = main(["restyle", "--quiet", "--preset", "Stone Church", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                 "--ray", "not-an-address"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err == ["error: --ray not-an-address: give a cluster address HOST:PORT (e.g. 127.0.0.1:6379, "
                                 "what `ray start --head` printed) or 'local' to start one in this process"]
    assert not (tmp_path / "out").exists()


def test_ray_local_renders_a_folder_as_a_local_run_does(cluster, tmp_path, capsys):
    for i in range(2):
        write_tone(tmp_path / "in" / f"line{i}.wav", seconds=1.0 + i)
    common = ["restyle", "--quiet", "--preset", "Stone Church", str(tmp_path / "in"), "--seed", "2"]
    assert main([*common, "-o", str(tmp_path / "farm"), "--ray", "local", "--ray-workers", "1"]) == 0
    assert "2 rendered, 0 skipped, 0 failed" in capsys.readouterr().out
    assert main([*common, "-o", str(tmp_path / "local")]) == 0
    for name in ("line0.wav", "line1.wav"):
        assert filecmp.cmp(tmp_path / "local" / name, tmp_path / "farm" / name, shallow=False)


def test_a_driver_with_the_wrong_token_is_told_how_to_authenticate(cluster, tmp_path):
    """Ray's token auth is on by default: a driver holding another token gets the remedy in one line."""
    if cluster is None:
        pytest.skip("needs the namespaced test cluster")
    write_tone(tmp_path / "in" / "a.wav")
    env = {**cluster.env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}
    run = subprocess.run([sys.executable, "-m", "engine.cli", "restyle", "--quiet", "--preset", "Stone Church",
                          str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--ray", cluster.address],
                         env=env, capture_output=True, text=True, timeout=120)
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert run.returncode == 1, run.stderr[-2000:]
    assert len(errors) == 1 and "refused this driver's authentication" in errors[0], run.stderr[-2000:]
    assert "ray get-auth-token" in errors[0]
    assert not (tmp_path / "out" / "a.wav").exists()
