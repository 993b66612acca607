"""Hostile input: what a careless or malicious user feeds the CLI. Every case ends in a correct result or
one clear `error:` line, never a traceback, never a damaged source (issue 19)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.cli import main
from presets import Library

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]


@pytest.fixture
def lib(tmp_path, make_preset, monkeypatch) -> Path:
    monkeypatch.setenv("ROOMTONE_LIBRARY", str(tmp_path / "lib"))
    Library(tmp_path / "lib", factory_dir=None).add(make_preset("Test Room"))
    return tmp_path / "lib"


@pytest.fixture
def cli(lib, capsys):
    """`roomtone ARGS` in this process; an exception escaping main() fails the test as a traceback would."""

    def run(*argv: object) -> Ran:
        code = main([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in argv])
        captured = capsys.readouterr()
        return Ran(int(code), captured.out, captured.err)

    return run


def run_unprivileged(argv: list[str], lib: Path, timeout_s: float = 120) -> Ran:
    """`roomtone ARGV` in a child process that file permissions bind (as root: no DAC override)."""
    cmd = [sys.executable, "-m", "engine.cli", *argv]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: file permissions cannot be made to hold")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    env = {**os.environ, "ROOMTONE_LIBRARY": str(lib)}
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=timeout_s)
    return Ran(r.returncode, r.stdout, r.stderr)
