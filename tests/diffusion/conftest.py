"""Tiny stylizers for the diffusion tests. Weights are jittered away from their init because the
U-Net's residual branches and attention outputs start at zero, which would make condition-dependent
checks pass vacuously."""

from __future__ import annotations

import pytest
import torch

from engine.diffusion import StylizerConfig, Stylizer, StylizerPipeline
from engine.diffusion.samplers import DDIMSampler

SAMPLE_RATE_HZ = 16000


def jitter_(module: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator))
    return module.eval()


def make_wave(seconds: float, seed: int = 0, batch: int = 1) -> torch.Tensor:
    """Harmonic tone plus a little noise: has energy across the mel range, deterministic."""
    n = int(seconds * SAMPLE_RATE_HZ)
    t = torch.arange(n, dtype=torch.float64) / SAMPLE_RATE_HZ
    g = torch.Generator().manual_seed(seed)
    waves = []
    for b in range(batch):
        f0 = 150.0 + 40.0 * b
        tone = sum(torch.sin(2 * torch.pi * f0 * k * t) / k for k in range(1, 8))
        waves.append(0.1 * tone + 0.01 * torch.randn(n, generator=g, dtype=torch.float64))
    return torch.stack(waves).float()


@pytest.fixture(autouse=True)
def one_thread():
    """The test machine's two cores are shared; one thread avoids OpenMP spin-waiting under load."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_model() -> Stylizer:
    torch.manual_seed(0)
    return jitter_(Stylizer(StylizerConfig.named("tiny")))  # type: ignore[return-value]


@pytest.fixture
def pipe(tiny_model: Stylizer) -> StylizerPipeline:
    return StylizerPipeline.from_stylizer(tiny_model, DDIMSampler(tiny_model.config.diffusion))
