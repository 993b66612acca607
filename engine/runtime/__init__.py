"""Inference backends beneath the diffusion engine: torch (CPU, CUDA fp16/bf16), onnxruntime, TensorRT.

Callers never see which one runs: the renderer (engine.stylize) resolves its settings once
(``resolve_runtime``), asks ``load_backend`` for a backend from the one model cache (``MODELS``) and
calls the five network entry points of ``Backend`` (engine.runtime.base). This package imports
the model (engine.diffusion), never the renderer. Importing this package is light;
onnxruntime, onnx and tensorrt are imported only when their backend is used.

    roomtone export-onnx --out DIR          # engine.runtime.onnx_export
    roomtone build-trt                      # engine.runtime.select.prebuild_tensorrt (prebuilds the engines)
    roomtone restyle --backend auto|torch|onnx|tensorrt --device auto|cpu|cuda --precision auto|fp32|fp16|bf16
"""

from engine.runtime.base import Backend
from engine.runtime.select import BACKENDS, DEVICES, MODELS, PRECISIONS, RuntimeChoice, cache_dir, create_backend, \
    load_backend, resolve_backend, resolve_device, resolve_precision, resolve_runtime

__all__ = ["BACKENDS", "Backend", "DEVICES", "MODELS", "PRECISIONS", "RuntimeChoice", "cache_dir", "create_backend",
           "load_backend", "resolve_backend", "resolve_device", "resolve_precision", "resolve_runtime"]
