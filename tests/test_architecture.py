"""The design's one-way imports, asserted: engine and presets never pull in Qt, and stay light."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_engine_and_presets_load_no_qt():
    mods = _modules_after("import engine, presets, engine.batch, engine.cli, engine.restyle")
    assert not any(m.startswith("PyQt6") for m in mods)


def test_import_engine_is_light():
    mods = _modules_after("import engine")
    assert not {"torch", "scipy", "av", "onnxruntime", "tensorrt"} & mods


def test_no_module_imports_desktop_from_engine():
    for path in (REPO / "engine").rglob("*.py"):
        text = path.read_text()
        assert "import desktop" not in text and "from desktop" not in text, path
