"""Render settings: the controls a mixer expects, in one plain dataclass shared by CLI and GUI."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

# Every option list a user can name lives here once; the CLI, the GUI, the runtime and the
# pipeline validate against these.
ENGINES = ("match", "diffusion")
# engine.diffusion.samplers: DDIM and DPM-Solver++(2M). The model code does not import the product's
# settings: engine.diffusion.pipeline.SAMPLERS maps these names to classes, and
# tests/diffusion/test_samplers.py holds the two equal.
SAMPLERS = ("ddim", "dpmpp")
# diffusion runtime (engine.runtime.select documents what "auto" picks)
BACKENDS = ("auto", "torch", "onnx", "tensorrt")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
TRT_PRECISIONS = ("fp16", "fp32")  # what a prebuilt TensorRT engine (roomtone build-trt) runs in
MAX_TAIL_S = 60.0  # longer than any room rings; bounds the extra output an editor can ask for


@dataclass(frozen=True)
class Settings:
    engine: str = "match"
    trim_db: float = 0.0  # ambience trim relative to the scene's own speech-to-ambience ratio
    wet_db: float = 0.0  # reverb level relative to the scene's own direct-to-reverberant ratio
    eq_amount: float = 1.0  # 0 = no colouration, 1 = the scene's full EQ curve
    seed: int = 0  # same seed, same input, same preset -> identical output
    stems: bool = False  # also write dialogue / reverb / ambience stems that sum to the mix
    # seconds of output after the input's last sample, where reverb and ambience ring out (faded at
    # the end); 0 keeps the output exactly as long as the input
    tail_s: float = 0.0
    # diffusion engine only
    steps: int = 25
    guidance: float = 4.5
    sampler: str = "dpmpp"
    device: str = "auto"  # CUDA when torch sees a GPU
    backend: str = "auto"
    precision: str = "auto"  # fp16 on CUDA, fp32 on the CPU

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        for name in ("trim_db", "wet_db"):
            v = getattr(self, name)
            if not math.isfinite(v) or not -60.0 <= v <= 24.0:
                raise ValueError(f"{name} must be between -60 and +24 dB, got {v}")
        if not (math.isfinite(self.tail_s) and 0.0 <= self.tail_s <= MAX_TAIL_S):
            raise ValueError(f"tail_s must be between 0 and {MAX_TAIL_S:g} seconds, got {self.tail_s}")
        if not 0.0 <= self.eq_amount <= 2.0:
            raise ValueError(f"eq_amount must be between 0 and 2, got {self.eq_amount}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be between 0 and 2**32-1, got {self.seed}")
        if not 1 <= self.steps <= 1000:
            raise ValueError(f"steps must be between 1 and 1000, got {self.steps}")
        if not 0.0 <= self.guidance <= 30.0:
            raise ValueError(f"guidance must be between 0 and 30, got {self.guidance}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be 'ddim' or 'dpmpp', got {self.sampler!r}")
        for name, allowed in (("device", DEVICES), ("backend", BACKENDS), ("precision", PRECISIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes: object) -> "Settings":
        return replace(self, **changes)
