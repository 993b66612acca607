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


# The diffusion renderer (product code) still living in the model package; the model modules
# beside it, the checkpoint loaders included, import neither it nor a runtime.
DIFFUSION_RENDERER = {"engine/diffusion/engine.py"}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports too), but not those only
    a type checker sees (``if TYPE_CHECKING:``)."""
    import ast

    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _files(folder: str):
    for path in sorted((REPO / folder).rglob("*.py")):
        yield path.relative_to(REPO).as_posix(), _imports(path)


def _hits(imports: set[str], *prefixes: str) -> set[str]:
    return {m for m in imports if any(m == p or m.startswith(p + ".") for p in prefixes)}


def test_model_code_imports_no_runtime_and_no_renderer():
    for name, imports in _files("engine/diffusion"):
        if name not in DIFFUSION_RENDERER:
            assert not _hits(imports, "engine.runtime", "engine.diffusion.engine"), name


def test_runtime_imports_no_renderer():
    """renderer -> runtime -> model: the runtime loads checkpoints from engine.diffusion.checkpoint."""
    for name, imports in _files("engine/runtime"):
        assert not _hits(imports, "engine.diffusion.engine", "engine.restyle", "engine.match"), name
