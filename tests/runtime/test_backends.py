"""Backend choice: the auto rules, the overrides, clear errors, and the renderer running through it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engine.runtime.select as select
from engine.cli import _settings, build_parser
from engine.stylize.renderer import DiffusionRenderer
from engine.errors import RoomtoneError
from engine.render import SourceInfo
from engine.runtime.cuda_graphs import GraphedCallable
from engine.runtime.torch_backend import TorchBackend
from engine.settings import Settings
from presets.store import load_preset

from tests.stylize.test_renderer import FACTORY


def fake_importable(present: set[str]):
    return lambda name: name in present


@pytest.mark.parametrize("present,device,expected", [
    ({"onnxruntime", "onnx"}, "cpu", "onnx"),
    ({"onnxruntime"}, "cpu", "torch"),  # cannot export without onnx
    (set(), "cpu", "torch"),
    ({"tensorrt", "onnxruntime", "onnx"}, "cpu", "onnx"),  # TensorRT is for CUDA only
    ({"tensorrt"}, "cuda", "tensorrt"),
    ({"onnxruntime", "onnx"}, "cuda", "torch"),
])
def test_auto_rules(monkeypatch, present, device, expected):
    monkeypatch.setattr(select, "_importable", fake_importable(present))
    assert select.resolve_backend("auto", device) == expected


def test_explicit_choices_and_their_errors(monkeypatch):
    assert select.resolve_backend("torch", "cpu") == "torch"
    with pytest.raises(RoomtoneError, match="needs a CUDA GPU"):
        select.resolve_backend("tensorrt", "cpu")
    with pytest.raises(RoomtoneError, match="unknown backend"):
        select.resolve_backend("openvino", "cpu")
    assert select.resolve_precision("auto", "torch", "cpu") == "fp32"
    assert select.resolve_precision("auto", "torch", "cuda") == "fp16"
    assert select.resolve_precision("auto", "onnx", "cuda") == "fp32"
    with pytest.raises(RoomtoneError, match="needs --device cuda"):
        select.resolve_precision("fp16", "torch", "cpu")
    with pytest.raises(RoomtoneError, match="fp32 graphs"):
        select.resolve_precision("bf16", "onnx", "cuda")
    with pytest.raises(RoomtoneError, match="fp16 or fp32"):
        select.resolve_precision("bf16", "tensorrt", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select.resolve_device("auto") == "cpu"
    with pytest.raises(RoomtoneError, match="no CUDA GPU"):
        select.resolve_device("cuda")


def test_settings_validate_and_the_cli_passes_them():
    with pytest.raises(ValueError, match="backend"):
        Settings(backend="tflite")
    with pytest.raises(ValueError, match="precision"):
        Settings(precision="int8")
    args = build_parser().parse_args(["restyle", "--preset", "x", "--engine", "diffusion", "--backend", "onnx",
                                      "--device", "cpu", "--precision", "fp32", "--batch-windows", "64", "in.wav",
                                      "-o", "out"])
    s = _settings(args)
    assert (s.backend, s.device, s.precision, args.batch_windows) == ("onnx", "cpu", "fp32", 64)
    defaults = _settings(build_parser().parse_args(["preview", "--preset", "x", "in.wav", "-o", "o.wav"]))
    assert (defaults.backend, defaults.device, defaults.precision) == ("auto", "auto", "auto")


def test_torch_cpu_refuses_half_precision(tiny_checkpoint):
    with pytest.raises(ValueError, match="CUDA"):
        TorchBackend(tiny_checkpoint[1], "fp16")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_the_renderer_runs_its_networks_through_the_chosen_backend(tiny_checkpoint, backend, monkeypatch):
    path, _, _ = tiny_checkpoint
    calls = []
    preset = load_preset(FACTORY / "restaurant")
    settings = Settings(engine="diffusion", steps=2, backend=backend, device="cpu")
    renderer = DiffusionRenderer(preset, settings, SourceInfo(16000, 1, 48000, -24.0), path)
    assert renderer.backend.name == backend
    for name in ("encode", "denoise", "decode", "vocode"):
        original = getattr(renderer.backend, name)
        monkeypatch.setattr(renderer.backend, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    x = np.random.default_rng(0).standard_normal((48000, 1)).astype(np.float32) * 0.05
    out = np.concatenate([renderer.process(x).mix, renderer.flush().mix])
    assert out.shape == x.shape and np.all(np.isfinite(out))
    assert {"encode", "denoise", "decode", "vocode"} <= set(calls)
    assert calls.count("denoise") == 2 * renderer.window_model.calls  # steps per window batch


def test_the_backend_is_loaded_once_per_configuration(tiny_checkpoint):
    path = tiny_checkpoint[0]
    a = select.load_backend(path, select.resolve_runtime("torch", "cpu", "auto"))
    b = select.load_backend(path, select.resolve_runtime("torch", "cpu", "fp32"))
    assert b[3] is a[3] and b[0] is a[0]
    onnx = select.load_backend(path, select.resolve_runtime("onnx", "cpu", "auto"))
    assert onnx[3] is not a[3] and onnx[0] is a[0]  # one model, a backend per runtime


def test_one_cache_loads_a_model_once_per_device_and_reloads_a_rewritten_package(tiny_checkpoint, monkeypatch):
    import os

    from engine.diffusion import checkpoint

    loads = []
    real = checkpoint.load_stylizer
    monkeypatch.setattr(select, "load_stylizer", lambda *a: loads.append(a) or real(*a))
    cache = select.ModelCache()
    path = tiny_checkpoint[0]
    first = cache.get(path, "cpu")
    assert cache.get(path, "cpu") is first and len(loads) == 1
    weights = path / checkpoint.WEIGHTS_FILE
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert cache.get(path, "cpu") is not first and len(loads) == 2


def test_runtime_choice_is_resolved_once_into_concrete_names(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(select, "_importable", fake_importable(set()))
    assert select.resolve_runtime() == select.RuntimeChoice("torch", "cpu", "fp32")


def test_cuda_graphs_leave_cpu_calls_alone():
    graphed = GraphedCallable(lambda a, b: a * 2 + b)
    x = torch.ones(3)
    torch.testing.assert_close(graphed(x, x), torch.full((3,), 3.0))
    assert not graphed._graphs and not graphed.disabled


def test_runtime_imports_stay_lazy():
    """engine.cli and the runtime package load no onnxruntime, onnx or tensorrt until a backend needs them."""
    import subprocess
    import sys
    from pathlib import Path

    code = "import engine.cli, engine.runtime, engine.stylize.renderer; import sys; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, check=True)
    assert not {"onnxruntime", "onnx", "tensorrt"} & set(out.stdout.split())
