"""onnxruntime over an export from engine.runtime.onnx_export.

CPU provider by default; the CUDA provider when the device is CUDA and the installed onnxruntime
has it (``onnxruntime-gpu``), in which case inputs and outputs stay on the GPU through IO binding
on the torch tensors' memory (no host round trip per U-Net call).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from engine.diffusion.models.stylizer import Stylizer
from engine.errors import RoomtoneError
from engine.runtime.base import Backend, pad_frames, timesteps_for
from engine.runtime.onnx_export import read_onnx_manifest


def cuda_provider_available() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


class OnnxBackend(Backend):
    name = "onnx"

    def __init__(self, model: Stylizer, checkpoint_id: str, export_dir: str | Path, device: str = "cpu",
                 threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RoomtoneError("--backend onnx needs onnxruntime: pip install 'roomtone[onnx]'") from None
        if device == "cuda" and not cuda_provider_available():
            raise RoomtoneError("--backend onnx on CUDA needs onnxruntime-gpu (this onnxruntime has no CUDA "
                                "provider); use --device cpu, or --backend torch")
        super().__init__(model.config, model.cond_encoder.null, device)
        self.export_dir = Path(export_dir)
        self.manifest = read_onnx_manifest(self.export_dir, checkpoint_id)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
        self.sessions = {name: ort.InferenceSession(str(self.export_dir / g["file"]), options, providers=providers)
                         for name, g in self.manifest["graphs"].items()}
        self.providers = providers

    @property
    def precision(self) -> str:
        return "fp32"

    def describe(self) -> str:
        return f"onnxruntime ({self.providers[0]}) on {self.device.type} (fp32)"

    def _run(self, name: str, *inputs: Tensor) -> Tensor:
        graph = self.manifest["graphs"][name]
        session = self.sessions[name]
        if self.device.type == "cuda":
            binding = session.io_binding()
            keep = [x.float().contiguous() for x in inputs]
            for n, x in zip(graph["inputs"], keep):
                binding.bind_input(n, "cuda", self.device.index or 0, np.float32, tuple(x.shape), x.data_ptr())
            binding.bind_output(graph["outputs"][0], "cuda", self.device.index or 0)
            session.run_with_iobinding(binding)
            out = binding.get_outputs()[0].numpy()  # ORT allocated it; one copy back per call
            return torch.from_numpy(out).to(self.device)
        feed = {n: x.detach().float().cpu().contiguous().numpy() for n, x in zip(graph["inputs"], inputs)}
        return torch.from_numpy(session.run(graph["outputs"][:1], feed)[0])

    def encode(self, mel: Tensor) -> Tensor:
        v = self.config.vae
        return self._run("vae_encoder", pad_frames(mel, v.downsample_factor, v.pad_value))

    def decode(self, latent: Tensor) -> Tensor:
        return self._run("vae_decoder", latent)

    def denoise(self, noisy_latent: Tensor, enhanced_latent: Tensor, timestep: Tensor | int | float,
                context: Tensor) -> Tensor:
        m = self.config.unet.size_multiple
        _, _, h, w = noisy_latent.shape
        t = timesteps_for(timestep, noisy_latent.shape[0], noisy_latent.device)
        eps = self._run("unet", pad_frames(noisy_latent, m), pad_frames(enhanced_latent, m), t, context)
        return eps[:, :, :h, :w]

    def vocode(self, log_mel: Tensor) -> Tensor:
        return self._run("vocoder", log_mel)

    def condition(self, audio_mel: Tensor | None = None, image: Tensor | None = None) -> Tensor:
        cc = self.config.condition
        inputs = []
        if cc.uses_audio:
            if audio_mel is None:
                raise ValueError(f"mode {cc.mode!r} needs audio_mel")
            inputs.append(audio_mel)
        if cc.uses_image:
            if image is None:
                raise ValueError(f"mode {cc.mode!r} needs image")
            inputs.append(image)
        return self._run("condition", *inputs)
