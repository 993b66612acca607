"""engine.diffusion is model code: importing it loads torch and nothing heavier, and never training code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HEAVY = ("scipy", "soundfile", "soxr", "pyloudnorm", "pyroomacoustics", "av", "PIL", "PyQt6", "librosa",
         "torchaudio", "safetensors", "engine.train", "engine.audio", "engine.scene", "engine.match",
         "engine.render", "engine.restyle")
PACKAGE = Path(__file__).resolve().parents[2] / "engine" / "diffusion"


def test_import_loads_nothing_heavy_beyond_torch() -> None:
    code = ("import sys, engine.diffusion; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=PACKAGE.parents[1], check=True)
    assert out.stdout.strip() == ""


def test_no_module_imports_training_code() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+engine\.train", re.MULTILINE)
    offenders = [p.name for p in PACKAGE.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
