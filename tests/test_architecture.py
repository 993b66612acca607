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


# The diffusion engine in three layers, imports one way only: the renderer (engine.stylize) ->
# its runtimes (engine.runtime) -> the model (engine.diffusion). Function-level imports count too,
# so a circle cannot hide inside a function.
LAYERS = ("engine.stylize", "engine.runtime", "engine.diffusion")


def _layer_violations(files) -> list[tuple[str, str]]:
    """(file, module) for every import of a layer above the file's own (LAYERS order)."""
    found = []
    for name, imports in files:
        module = name.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        own = next((k for k, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + ".")), None)
        if own is None:
            continue
        found += [(name, m) for m in sorted(_hits(imports, *LAYERS[:own]))]
    return found


def test_imports_go_renderer_to_runtime_to_model_only():
    files = [f for layer in LAYERS for f in _files(layer.replace(".", "/"))]
    assert len(files) > 20
    assert _layer_violations(files) == []


def test_the_layer_check_sees_a_back_import(tmp_path):
    """The check above would fail on a back-import, also one inside a function."""
    model = tmp_path / "checkpoint.py"
    model.write_text("def f():\n    from engine.stylize.renderer import DiffusionRenderer\n")
    runtime = tmp_path / "select.py"
    runtime.write_text("import engine.stylize\n")
    files = [("engine/diffusion/checkpoint.py", _imports(model)), ("engine/runtime/select.py", _imports(runtime))]
    assert _layer_violations(files) == [("engine/diffusion/checkpoint.py", "engine.stylize.renderer"),
                                        ("engine/diffusion/checkpoint.py", "engine.stylize.renderer.DiffusionRenderer"),
                                        ("engine/runtime/select.py", "engine.stylize")]


def _module_graph(folders) -> dict[str, set[str]]:
    """module -> the modules of ``folders`` it imports (at any depth), by dotted name. The packages'
    own __init__ files are left out: they import their submodules by design."""
    files = {name.removesuffix(".py").replace("/", ".").removesuffix(".__init__"): imports
             for folder in folders for name, imports in _files(folder)}
    packages = {folder.replace("/", ".") for folder in folders}
    graph = {}
    for module, imports in files.items():
        # "engine.a.b.Name" (from engine.a.b import Name) names the module engine.a.b
        targets = {next((t for t in (m, m.rpartition(".")[0]) if t in files), None) for m in imports}
        graph[module] = set() if module in packages else {t for t in targets if t and t != module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (as a path a -> ... -> a), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            if found := visit(nxt, path + [node]):
                return found
        done.add(node)
        return None

    return next((c for c in (visit(n, []) for n in sorted(graph)) if c), None)


def test_no_import_circles_in_the_diffusion_engine():
    """Not even one hidden in a function (the runtime once imported the renderer's loader back)."""
    assert _cycle(_module_graph(("engine/stylize", "engine/runtime", "engine/diffusion"))) is None


def test_the_circle_check_sees_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_model_and_runtime_import_no_product_code():
    """The model and its runtimes know nothing of files, presets, scenes or the match engine."""
    for layer in ("engine/diffusion", "engine/runtime"):
        for name, imports in _files(layer):
            assert not _hits(imports, "engine.restyle", "engine.batch", "engine.match", "engine.scene", "presets",
                             "engine.train"), name


def test_the_renderer_imports_no_training_code():
    for name, imports in _files("engine/stylize"):
        assert not _hits(imports, "engine.train"), name


def test_the_renderer_lives_outside_the_model_package():
    assert not (REPO / "engine" / "diffusion" / "engine.py").exists()
    assert (REPO / "engine" / "stylize" / "renderer.py").exists()
