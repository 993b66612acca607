"""Audio-visual soundscape stylization (Li et al., "Self-Supervised Audio-Visual Soundscape
Stylization"): mel VAE + latent diffusion U-Net conditioned on a hint clip + Vocos vocoder.

Model code only: training lives in engine/train, which imports this package, never the reverse.
Importing this package loads torch and nothing heavier (safetensors loads on first save/load).

    model = Stylizer(StylizerConfig.named("tiny"))
    pipe = StylizerPipeline.from_stylizer(model, make_sampler("dpmpp", model.config))
    tokens = pipe.encode_condition(hint_wave=hint, hint_image=frame)
    out = pipe(enhanced_wave, tokens, steps=25, guidance_scale=4.5, seed=0)   # out.wave
"""

from engine.diffusion.checkpoint import CheckpointError, checkpoint_id, load_checkpoint, read_manifest, save_checkpoint
from engine.diffusion.config import ConditionEncoderConfig, DiffusionConfig, MelConfig, StylizerConfig, UNetConfig, \
    VAEConfig, VocoderConfig
from engine.diffusion.mel import MelFrontEnd
from engine.diffusion.models import AudioConditionEncoder, ConditionEncoder, DiagonalGaussian, ImageConditionEncoder, \
    LatentUNet, MelVAE, PatchDiscriminator, Stylizer, VocosVocoder
from engine.diffusion.pipeline import StylizerOutput, StylizerPipeline, make_sampler
from engine.diffusion.samplers import DDIMSampler, DPMSolverPP2MSampler
from engine.diffusion.schedule import NoiseSchedule

__all__ = [
    "AudioConditionEncoder",
    "CheckpointError",
    "ConditionEncoder",
    "ConditionEncoderConfig",
    "DDIMSampler",
    "DPMSolverPP2MSampler",
    "DiagonalGaussian",
    "DiffusionConfig",
    "ImageConditionEncoder",
    "LatentUNet",
    "MelConfig",
    "MelFrontEnd",
    "MelVAE",
    "NoiseSchedule",
    "PatchDiscriminator",
    "StylizerConfig",
    "StylizerOutput",
    "StylizerPipeline",
    "Stylizer",
    "UNetConfig",
    "VAEConfig",
    "VocoderConfig",
    "VocosVocoder",
    "checkpoint_id",
    "load_checkpoint",
    "make_sampler",
    "read_manifest",
    "save_checkpoint",
    # inference engine (loaded on first use: they pull in engine.render / engine.audio / scipy / soxr)
    "DiffusionRenderer",
    "OverlapAdd",
    "available_checkpoint",
    "diffusion_available",
    "embed_reference",
    "overlap_add",
    "preset_condition",
]

_LAZY = {
    "DiffusionRenderer": "engine.diffusion.engine",
    "available_checkpoint": "engine.diffusion.engine",
    "diffusion_available": "engine.diffusion.engine",
    "OverlapAdd": "engine.diffusion.windowing",
    "overlap_add": "engine.diffusion.windowing",
    "embed_reference": "engine.diffusion.embeddings",
    "preset_condition": "engine.diffusion.embeddings",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine.diffusion' has no attribute {name!r}")
