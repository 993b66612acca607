"""Which backend runs a render, decided once per (checkpoint, backend, device, precision).

``--backend auto`` (the default) picks, in order:

1. on a CUDA device: **TensorRT** when the ``tensorrt`` module imports (engines are built once and
   cached; a failed build falls back to torch CUDA with one log line), else **torch CUDA** in fp16;
2. on the CPU: **onnxruntime** when ``onnxruntime`` and ``onnx`` import -- measured ~1.7x faster
   than torch on the tiny U-Net with one thread (bench/bench_backends.py) -- exporting the
   checkpoint's graphs once into the cache; else **torch CPU**.

``--device auto`` is CUDA when torch sees a GPU, else the CPU. ``--precision auto`` is fp16 on
CUDA and fp32 on the CPU (onnxruntime always runs the fp32 graphs).

The cache (ONNX exports per checkpoint, TensorRT engines and timing caches) lives in
``$ROOMTONE_CACHE`` or the platform's user cache folder.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path

import torch

from engine.errors import RoomtoneError
from engine.runtime.base import Backend
from engine.settings import BACKENDS, DEVICES, PRECISIONS

log = logging.getLogger("roomtone.runtime")

CACHE_ENV = "ROOMTONE_CACHE"
DEFAULT_MAX_WINDOWS = 4  # TensorRT profile when nothing else is asked for: the renderer's own batch


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("roomtone"))


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def onnx_usable() -> bool:
    return _importable("onnxruntime") and _importable("onnx")


def resolve_device(device: str) -> str:
    if device not in DEVICES:
        raise RoomtoneError(f"unknown device {device!r}; choose one of {DEVICES}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RoomtoneError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    return device


def resolve_backend(backend: str, device: str) -> str:
    """The concrete backend for a concrete device (see the module docstring for the auto rules)."""
    if backend not in BACKENDS:
        raise RoomtoneError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if backend == "auto":
        if device == "cuda":
            return "tensorrt" if _importable("tensorrt") else "torch"
        return "onnx" if onnx_usable() else "torch"
    if backend == "tensorrt" and device != "cuda":
        raise RoomtoneError("--backend tensorrt needs a CUDA GPU; on the CPU use --backend onnx or torch")
    return backend


def resolve_precision(precision: str, backend: str, device: str) -> str:
    if precision not in PRECISIONS:
        raise RoomtoneError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    if precision == "auto":
        return "fp16" if device == "cuda" and backend != "onnx" else "fp32"
    if precision != "fp32" and device != "cuda":
        raise RoomtoneError(f"--precision {precision} needs --device cuda; the CPU runs fp32")
    if precision != "fp32" and backend == "onnx":
        raise RoomtoneError(f"--backend onnx runs the fp32 graphs; drop --precision {precision} or use "
                            "--backend torch/tensorrt")
    if precision == "bf16" and backend == "tensorrt":
        raise RoomtoneError("--backend tensorrt builds fp16 or fp32 engines; use --precision fp16")
    return precision


def onnx_cache_dir(checkpoint_id: str) -> Path:
    from engine.runtime.onnx_export import OPSET

    return cache_dir() / "onnx" / f"{checkpoint_id[:16]}-opset{OPSET}"


def ensure_onnx_export(model, checkpoint_id: str, directory: str | Path | None = None) -> Path:
    """A verified export of this checkpoint: the one in ``directory`` (or the cache), made if missing."""
    from engine.runtime.onnx_export import OnnxExportError, export_onnx, read_onnx_manifest

    directory = Path(directory) if directory is not None else onnx_cache_dir(checkpoint_id)
    try:
        read_onnx_manifest(directory, checkpoint_id)
        return directory
    except OnnxExportError:
        pass
    if not _importable("onnx"):
        raise OnnxExportError("exporting ONNX graphs needs the onnx package: pip install 'roomtone[onnx]'")
    log.warning("exporting checkpoint %s to ONNX in %s (once per checkpoint)", checkpoint_id[:12], directory)
    export_onnx(model, checkpoint_id, directory)
    return directory


def create_backend(model, checkpoint_id: str, backend: str = "auto", device: str = "auto",
                   precision: str = "auto", max_windows: int = DEFAULT_MAX_WINDOWS,
                   onnx_dir: str | Path | None = None, cuda_graphs: bool | None = None) -> Backend:
    """A backend over ``model`` (a Stylizer already on the resolved device). Not cached; see load_backend."""
    from engine.runtime.torch_backend import TorchBackend

    device = resolve_device(device)
    name = resolve_backend(backend, device)
    precision = resolve_precision(precision, name, device)
    if cuda_graphs is None:
        cuda_graphs = os.environ.get("ROOMTONE_CUDA_GRAPHS", "") == "1"
    if name == "torch":
        return TorchBackend(model, precision, cuda_graphs=cuda_graphs)
    if name == "onnx":
        from engine.runtime.onnx_backend import OnnxBackend

        return OnnxBackend(model, checkpoint_id, ensure_onnx_export(model, checkpoint_id, onnx_dir), device)
    return tensorrt_or_fallback(model, checkpoint_id, precision, max_windows, onnx_dir, cuda_graphs)


def tensorrt_or_fallback(model, checkpoint_id: str, precision: str, max_windows: int,
                         onnx_dir: str | Path | None = None, cuda_graphs: bool = False, trt=None,
                         identity: tuple[str, tuple[int, int]] | None = None) -> Backend:
    """TensorRT over the ONNX export, or -- with one log line saying why -- torch on the model's device."""
    from engine.runtime.onnx_export import OnnxExportError, read_onnx_manifest
    from engine.runtime.tensorrt_backend import EngineCache, TensorRTBackend, TensorRTUnavailable, \
        build_tensorrt_engines, import_tensorrt
    from engine.runtime.torch_backend import TorchBackend

    on_cuda = next(model.parameters()).device.type == "cuda"  # always, outside tests of this fallback on the CPU
    fallback = TorchBackend(model, precision if on_cuda else "fp32", cuda_graphs=cuda_graphs)
    try:
        trt = trt or import_tensorrt()  # before the export: no point exporting for a TensorRT that is not there
        export = ensure_onnx_export(model, checkpoint_id, onnx_dir)
        engines = build_tensorrt_engines(
            model.config, export, read_onnx_manifest(export, checkpoint_id), EngineCache(cache_dir() / "tensorrt"),
            precision, max_windows, fallback.device, trt=trt, identity=identity,
            on_build=lambda g: log.info("building the TensorRT %s engine (once per GPU and TensorRT version)", g))
    except (TensorRTUnavailable, OnnxExportError) as exc:
        log.warning("TensorRT not used (%s); running torch %s %s instead", exc, fallback.device.type,
                    fallback.precision)
        return fallback
    return TensorRTBackend(fallback, engines, precision)


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, backend: str, device: str, precision: str, max_windows: int):
    from engine.diffusion.checkpoint import load_stylizer

    model, config, ident = load_stylizer(path, device)
    return model, config, ident, create_backend(model, ident, backend, device, precision, max_windows)


def load_backend(checkpoint_dir: str | Path, backend: str = "auto", device: str = "auto", precision: str = "auto",
                 max_windows: int = DEFAULT_MAX_WINDOWS):
    """(Stylizer, StylizerConfig, checkpoint id, Backend), cached across renderers (one per file in a batch)."""
    path = Path(checkpoint_dir).resolve()
    weights = path / "weights.safetensors"
    mtime = weights.stat().st_mtime_ns if weights.exists() else 0
    device = resolve_device(device)
    name = resolve_backend(backend, device)
    return _cached(str(path), mtime, name, device, resolve_precision(precision, name, device), int(max_windows))
