"""TensorRT engines built from the ONNX export, cached, and run on torch CUDA memory.

Unverified on a GPU in this repository: TensorRT's builder cannot be installed where this was
written (only its lean runtime is on PyPI), so what is tested is the code around it -- cache
keys, profile choice, the fallback -- and the graphs themselves by ONNX parity with torch.

Why the pieces are as they are:

* **Cache key** = ONNX graph hash + TensorRT version + GPU name + compute capability + precision +
  optimisation profile. An engine is only valid for the exact TensorRT build and GPU
  architecture it was tuned on, and a profile or precision change is a different engine; any
  of these changing must rebuild, nothing else may.
* **Profiles**: the renderer always calls with one window length (64 latent frames) and batches
  of up to ``max_windows`` windows (the U-Net sees twice that for classifier-free guidance), so
  min/opt/max span exactly those shapes and TensorRT tunes for the full batch (opt = max).
  Shapes outside a profile (other callers, other lengths) run on the torch fallback instead of
  failing.
* **Timing cache**: kernel timings are kept per GPU and TensorRT version, so rebuilding after a
  checkpoint or profile change takes seconds instead of minutes.
* **The condition encoder** stays on torch: it runs once per preset, not per step.
* **Fallback**: TensorRT missing, or a build failing, costs one log line and the render runs on
  torch CUDA (fp16 autocast) -- never a failed batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from engine.diffusion.config import StylizerConfig
from engine.errors import RoomtoneError
from engine.runtime.base import Backend, pad_frames, timesteps_for
from engine.runtime.graphs import graph_specs
from engine.settings import TRT_PRECISIONS

log = logging.getLogger("roomtone.runtime")

TRT_GRAPHS = ("unet", "vae_encoder", "vae_decoder", "vocoder")  # the condition encoder stays on torch
WORKSPACE_BYTES = 4 << 30


class TensorRTUnavailable(RoomtoneError):
    """TensorRT cannot be used here (not installed, no CUDA, or an engine failed to build or load)."""


Shape = tuple[int, ...]


@dataclass(frozen=True)
class Profile:
    """One optimisation profile: per input, (min, opt, max) shapes."""

    shapes: tuple[tuple[str, Shape, Shape, Shape], ...]

    def covers(self, inputs: dict[str, Shape]) -> bool:
        for name, lo, _, hi in self.shapes:
            shape = inputs.get(name)
            if shape is None or len(shape) != len(lo) or any(not a <= s <= b for s, a, b in zip(shape, lo, hi)):
                return False
        return True

    def to_json(self) -> list:
        return [[name, list(lo), list(opt), list(hi)] for name, lo, opt, hi in self.shapes]


def choose_profile(config: StylizerConfig, graph: str, max_windows: int) -> Profile:
    """The shapes the renderer feeds ``graph``: batches of 1..max_windows windows of the training length."""
    if max_windows < 1:
        raise ValueError(f"max_windows must be >= 1, got {max_windows}")
    spec = graph_specs(config)[graph]
    shapes = []
    for name in spec.inputs:
        typical = spec.typical_shapes[name]
        batch_lo, batch_hi = (2, 2 * max_windows) if graph == "unet" else (1, max_windows)
        lo, hi = [batch_lo, *typical[1:]], [batch_hi, *typical[1:]]
        for axis in spec.dynamic_axes.get(name, {}):
            if axis == 0:
                continue
            lo[axis] = 1 if name == "context" else max(1, spec.frame_multiple)  # short last windows, short hints
        shapes.append((name, tuple(lo), tuple(hi), tuple(hi)))
    return Profile(tuple(shapes))


@dataclass(frozen=True)
class EngineKey:
    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    precision: str
    profile: Profile

    def digest(self) -> str:
        fields = asdict(self)
        fields["profile"] = self.profile.to_json()
        fields["compute_capability"] = list(self.compute_capability)
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def file_name(self, graph: str) -> str:
        return f"{graph}-{self.digest()[:24]}.plan"


def gpu_identity(device: torch.device | str = "cuda") -> tuple[str, tuple[int, int]]:
    index = torch.device(device).index or 0
    return torch.cuda.get_device_name(index), tuple(torch.cuda.get_device_capability(index))  # type: ignore[return-value]


def import_tensorrt():
    """The tensorrt module, or TensorRTUnavailable saying how to get it."""
    try:
        import tensorrt as trt  # noqa: F401
    except ImportError as exc:
        raise TensorRTUnavailable(f"TensorRT is not installed ({exc}); pip install 'roomtone[tensorrt]'") from None
    return trt


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower() or "gpu"


class EngineCache:
    """Engines and timing caches in one folder; every file is written atomically."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def engine_path(self, key: EngineKey, graph: str) -> Path:
        return self.directory / key.file_name(graph)

    def timing_cache_path(self, tensorrt_version: str, gpu_name: str) -> Path:
        return self.directory / f"timing-{_slug(gpu_name)}-trt{tensorrt_version}.cache"

    def write(self, path: Path, data: bytes, sidecar: dict | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if sidecar is not None:  # what the engine was built for, for people reading the cache folder
            path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2))

    def read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None


def build_engine(trt, onnx_path: Path, profile: Profile, precision: str, timing_cache: bytes | None,
                 workspace_bytes: int = WORKSPACE_BYTES) -> tuple[bytes, bytes | None]:
    """(serialized engine, updated timing cache) from an ONNX graph; TensorRTUnavailable on failure."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # TensorRT 8; the default from 10 on
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TensorRTUnavailable(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision == "fp16":
        if not hasattr(trt.BuilderFlag, "FP16"):  # TensorRT 11 removed weak typing
            raise TensorRTUnavailable(f"TensorRT {trt.__version__} has no FP16 builder flag (strongly typed networks "
                                      "only); install 'tensorrt<11' (pip install 'roomtone[tensorrt]') or use fp32")
        config.set_flag(trt.BuilderFlag.FP16)
    cache = config.create_timing_cache(timing_cache or b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    opt_profile = builder.create_optimization_profile()
    for name, lo, opt, hi in profile.shapes:
        opt_profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(opt_profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTUnavailable(f"TensorRT failed to build an engine from {onnx_path.name} (see its log above)")
    new_cache = config.get_timing_cache()
    return bytes(serialized), (bytes(new_cache.serialize()) if new_cache is not None else None)


class TensorRTEngine:
    """One deserialized engine, run on torch CUDA tensors on the current stream."""

    def __init__(self, trt, plan: bytes, inputs: tuple[str, ...], output: str, profile: Profile) -> None:
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise TensorRTUnavailable("TensorRT could not load a cached engine (rebuild with 'roomtone build-trt')")
        self.context = self.engine.create_execution_context()
        self.inputs, self.output, self.profile = inputs, output, profile

    def __call__(self, *tensors: Tensor) -> Tensor:
        keep = [t.float().contiguous() for t in tensors]
        for name, t in zip(self.inputs, keep):
            self.context.set_input_shape(name, tuple(t.shape))
            self.context.set_tensor_address(name, t.data_ptr())
        out = torch.empty(tuple(self.context.get_tensor_shape(self.output)), dtype=torch.float32,
                          device=keep[0].device)
        self.context.set_tensor_address(self.output, out.data_ptr())
        if not self.context.execute_async_v3(torch.cuda.current_stream(keep[0].device).cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        return out


class TensorRTBackend(Backend):
    """TensorRT for the per-step networks, torch (the fallback backend) for everything else."""

    name = "tensorrt"

    def __init__(self, fallback: Backend, engines: dict[str, TensorRTEngine], precision: str) -> None:
        super().__init__(fallback.config, fallback._null, fallback.device)
        self.fallback, self.engines, self._precision = fallback, engines, precision

    @property
    def precision(self) -> str:
        return self._precision

    def _engine_for(self, graph: str, *tensors: Tensor) -> TensorRTEngine | None:
        engine = self.engines.get(graph)
        if engine is None or not engine.profile.covers({n: tuple(t.shape) for n, t in zip(engine.inputs, tensors)}):
            return None
        return engine

    def encode(self, mel: Tensor) -> Tensor:
        v = self.config.vae
        padded = pad_frames(mel, v.downsample_factor, v.pad_value)
        engine = self._engine_for("vae_encoder", padded)
        return engine(padded) if engine else self.fallback.encode(mel)

    def decode(self, latent: Tensor) -> Tensor:
        engine = self._engine_for("vae_decoder", latent)
        return engine(latent) if engine else self.fallback.decode(latent)

    def denoise(self, noisy_latent: Tensor, enhanced_latent: Tensor, timestep: Tensor | int | float,
                context: Tensor) -> Tensor:
        m = self.config.unet.size_multiple
        _, _, h, w = noisy_latent.shape
        t = timesteps_for(timestep, noisy_latent.shape[0], noisy_latent.device)
        args = (pad_frames(noisy_latent, m), pad_frames(enhanced_latent, m), t, context)
        engine = self._engine_for("unet", *args)
        if engine is None:
            return self.fallback.denoise(noisy_latent, enhanced_latent, timestep, context)
        return engine(*args)[:, :, :h, :w]

    def vocode(self, log_mel: Tensor) -> Tensor:
        engine = self._engine_for("vocoder", log_mel)
        return engine(log_mel) if engine else self.fallback.vocode(log_mel)

    def condition(self, audio_mel: Tensor | None = None, image: Tensor | None = None) -> Tensor:
        return self.fallback.condition(audio_mel, image)


def build_tensorrt_engines(config: StylizerConfig, export_dir: Path, manifest: dict, cache: EngineCache,
                           precision: str, max_windows: int, device: torch.device | str = "cuda",
                           trt=None, identity: tuple[str, tuple[int, int]] | None = None,
                           on_build: Callable[[str], None] | None = None) -> dict[str, TensorRTEngine]:
    """Load the cached engine for each graph or build (and cache) it; TensorRTUnavailable on any failure."""
    if precision not in TRT_PRECISIONS:
        raise ValueError(f"TensorRT precision must be one of {TRT_PRECISIONS}, got {precision!r}")
    trt = trt or import_tensorrt()
    gpu_name, capability = identity or gpu_identity(device)
    timing_path = cache.timing_cache_path(trt.__version__, gpu_name)
    engines = {}
    for graph in TRT_GRAPHS:
        entry = manifest["graphs"][graph]
        profile = choose_profile(config, graph, max_windows)
        key = EngineKey(entry["sha256"], trt.__version__, gpu_name, capability, precision, profile)
        path = cache.engine_path(key, graph)
        plan = cache.read(path)
        if plan is None:
            if on_build is not None:
                on_build(graph)
            try:
                plan, timing = build_engine(trt, export_dir / entry["file"], profile, precision, cache.read(timing_path))
            except TensorRTUnavailable:
                raise
            except Exception as exc:  # the builder raises its own types; the caller falls back
                raise TensorRTUnavailable(f"building the {graph} engine failed: {exc}") from exc
            cache.write(path, plan, {"graph": graph, "key": {**asdict(key), "profile": profile.to_json()}})
            if timing:
                cache.write(timing_path, timing)
        engines[graph] = TensorRTEngine(trt, plan, tuple(entry["inputs"]), entry["outputs"][0], profile)
    return engines
