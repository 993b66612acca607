"""Audio-visual soundscape stylization (Li et al., "Self-Supervised Audio-Visual Soundscape
Stylization"): mel VAE + latent diffusion U-Net conditioned on a hint clip + Vocos vocoder.

Model code only: the networks, the sampling loop, the checkpoint format and where the product
finds its checkpoint. Three packages build on it and it imports none of them: engine.train (training),
engine.runtime (the backends that run these networks) and engine.stylize (the product renderer:
DiffusionRenderer, windowing, noise, preset conditions). Importing this package loads torch and
nothing heavier (safetensors loads on first save/load).

    model = Stylizer(StylizerConfig.named("tiny"))
    pipe = StylizerPipeline.from_stylizer(model, make_sampler("dpmpp", model.config))
    tokens = pipe.encode_condition(hint_wave=hint, hint_image=frame)
    out = pipe(enhanced_wave, tokens, steps=25, guidance_scale=4.5, seed=0)   # out.wave
"""

from engine.diffusion.checkpoint import CheckpointError, available_checkpoint, checkpoint_id, diffusion_available, \
    load_checkpoint, read_manifest, require_checkpoint, save_checkpoint
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
    "available_checkpoint",
    "checkpoint_id",
    "diffusion_available",
    "load_checkpoint",
    "make_sampler",
    "read_manifest",
    "require_checkpoint",
    "save_checkpoint",
]
