"""Inference backends beneath the diffusion engine: torch (CPU, CUDA fp16/bf16), onnxruntime, TensorRT.

Callers never see which one runs: engine.diffusion asks ``load_backend`` for one and calls the
five network entry points of ``Backend`` (engine.runtime.base). Importing this package is light;
onnxruntime, onnx and tensorrt are imported only when their backend is used.

    roomtone export-onnx --out DIR          # engine.runtime.onnx_export
    roomtone build-trt                      # engine.runtime.tensorrt_backend (prebuilds the engines)
    roomtone restyle --backend auto|torch|onnx|tensorrt --device auto|cpu|cuda --precision auto|fp32|fp16|bf16
"""

from engine.runtime.base import Backend
from engine.runtime.select import BACKENDS, DEVICES, PRECISIONS, cache_dir, create_backend, load_backend, \
    resolve_backend, resolve_device, resolve_precision

__all__ = ["BACKENDS", "Backend", "DEVICES", "PRECISIONS", "cache_dir", "create_backend", "load_backend",
           "resolve_backend", "resolve_device", "resolve_precision"]
