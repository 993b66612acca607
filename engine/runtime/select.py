"""Which backend runs a render, decided once (``resolve_runtime``), and the one cache of loaded models.

``--backend auto`` (the default) picks, in order:

1. on a CUDA device: **TensorRT** when the ``tensorrt`` module imports (engines are built once and
   cached; a failed build falls back to torch CUDA with one log line), else **torch CUDA** in fp16;
2. on the CPU: **onnxruntime** when ``onnxruntime`` and ``onnx`` import -- measured ~1.7x faster
   than torch on the tiny U-Net with one thread (bench/bench_backends.py) -- exporting the
   checkpoint's graphs once into the cache; else **torch CPU**.

``--device auto`` is CUDA when torch sees a GPU, else the CPU. ``--precision auto`` is fp16 on
CUDA and fp32 on the CPU (onnxruntime always runs the fp32 graphs).

``resolve_runtime`` is the one place these three are resolved: it returns a ``RuntimeChoice``
(concrete backend, device, precision) that the renderer, the bench and ``load_backend`` take.

``MODELS`` (a ``ModelCache``) is the one cache of loaded models: a Stylizer package per (resolved
path, weights mtime, device), loaded once (its manifest read once), and the backends made over it,
one per (RuntimeChoice, TensorRT profile size). A batch's renderers (one per file) share them, and
throughput mode pools windows of renderers with the same backend object.

The disk cache (ONNX exports per checkpoint, TensorRT engines and timing caches) lives in
``$ROOMTONE_CACHE`` or the platform's user cache folder.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.diffusion.checkpoint import WEIGHTS_FILE, load_stylizer
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


@dataclass(frozen=True)
class RuntimeChoice:
    """What ``auto`` came to on this machine: a concrete backend, device and precision."""

    backend: str
    device: str
    precision: str


def resolve_runtime(backend: str = "auto", device: str = "auto", precision: str = "auto") -> RuntimeChoice:
    """The one resolution of ``--backend``/``--device``/``--precision`` (each depends on the one before)."""
    device = resolve_device(device)
    backend = resolve_backend(backend, device)
    return RuntimeChoice(backend, device, resolve_precision(precision, backend, device))


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


def create_backend(model, checkpoint_id: str, runtime: RuntimeChoice, max_windows: int = DEFAULT_MAX_WINDOWS,
                   onnx_dir: str | Path | None = None, cuda_graphs: bool | None = None) -> Backend:
    """A backend over ``model`` (a Stylizer already on ``runtime.device``). Not cached; see load_backend."""
    from engine.runtime.torch_backend import TorchBackend

    if cuda_graphs is None:
        cuda_graphs = os.environ.get("ROOMTONE_CUDA_GRAPHS", "") == "1"
    if runtime.backend == "torch":
        return TorchBackend(model, runtime.precision, cuda_graphs=cuda_graphs)
    if runtime.backend == "onnx":
        from engine.runtime.onnx_backend import OnnxBackend

        return OnnxBackend(model, checkpoint_id, ensure_onnx_export(model, checkpoint_id, onnx_dir), runtime.device)
    return tensorrt_or_fallback(model, checkpoint_id, runtime.precision, max_windows, onnx_dir, cuda_graphs)


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


@dataclass(frozen=True)
class Prebuilt:
    """What ``prebuild_tensorrt`` did: which graphs it built now; the rest were already cached."""

    tensorrt_version: str
    checkpoint_id: str
    cache_dir: Path
    built: tuple[str, ...]
    cached: int


def prebuild_tensorrt(checkpoint_dir: str | Path, precision: str = "fp16", max_windows: int = 4,
                      onnx_dir: str | Path | None = None) -> Prebuilt:
    """Build (or find cached) this GPU's TensorRT engines for a checkpoint, so the first render
    does not wait for them (``roomtone build-trt``)."""
    from engine.runtime.onnx_export import read_onnx_manifest
    from engine.runtime.tensorrt_backend import TRT_GRAPHS, EngineCache, build_tensorrt_engines, import_tensorrt

    trt = import_tensorrt()
    if not torch.cuda.is_available():
        raise RoomtoneError("building TensorRT engines needs a CUDA GPU (engines are tuned for the GPU they run on)")
    model, config, ident = load_stylizer(checkpoint_dir, "cuda")
    export = ensure_onnx_export(model, ident, onnx_dir)
    cache = EngineCache(cache_dir() / "tensorrt")
    built: list[str] = []
    build_tensorrt_engines(config, export, read_onnx_manifest(export, ident), cache, precision, max_windows, "cuda",
                           trt=trt, on_build=built.append)
    return Prebuilt(trt.__version__, ident, cache.directory, tuple(built), len(TRT_GRAPHS) - len(built))


class LoadedModel:
    """A Stylizer package loaded on one device, and the backends made over it (at most one per
    RuntimeChoice and TensorRT profile size, so renderers of one batch share them)."""

    def __init__(self, model, config, checkpoint_id: str) -> None:
        self.model, self.config, self.checkpoint_id = model, config, checkpoint_id
        self._backends: dict[tuple[RuntimeChoice, int], Backend] = {}
        self._lock = threading.Lock()

    def backend(self, runtime: RuntimeChoice, max_windows: int = DEFAULT_MAX_WINDOWS) -> Backend:
        key = (runtime, int(max_windows))
        with self._lock:
            if key not in self._backends:
                self._backends[key] = create_backend(self.model, self.checkpoint_id, runtime, int(max_windows))
            return self._backends[key]


class ModelCache:
    """Loaded models by (resolved path, weights mtime_ns, device), the ``capacity`` most recently used.

    A rewritten package (new mtime) loads anew. One lock: a thread asking for a model being loaded
    waits for it rather than loading it a second time.
    """

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, int, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, checkpoint_dir: str | Path, device: str) -> LoadedModel:
        """The package on ``device`` (a resolved one: "cpu" or "cuda"), loaded on first use."""
        path = Path(checkpoint_dir).resolve()
        weights = path / WEIGHTS_FILE
        key = (str(path), weights.stat().st_mtime_ns if weights.exists() else 0, device)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = LoadedModel(*load_stylizer(path, device))
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
            self._entries.move_to_end(key)
            return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


MODELS = ModelCache()


def load_backend(checkpoint_dir: str | Path, runtime: RuntimeChoice, max_windows: int = DEFAULT_MAX_WINDOWS):
    """(Stylizer, StylizerConfig, checkpoint id, Backend) from the one cache (one per file in a batch)."""
    loaded = MODELS.get(checkpoint_dir, runtime.device)
    return loaded.model, loaded.config, loaded.checkpoint_id, loaded.backend(runtime, max_windows)
