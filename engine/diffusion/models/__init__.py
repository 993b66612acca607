"""Networks of the soundscape stylizer; all layers they share live in ``blocks``."""

from engine.diffusion.models.encoders import AudioConditionEncoder, ConditionEncoder, ImageConditionEncoder
from engine.diffusion.models.stylizer import Stylizer
from engine.diffusion.models.unet import LatentUNet
from engine.diffusion.models.vae import DiagonalGaussian, MelVAE, PatchDiscriminator
from engine.diffusion.models.vocoder import InverseSTFT, VocosVocoder

__all__ = [
    "AudioConditionEncoder",
    "ConditionEncoder",
    "DiagonalGaussian",
    "ImageConditionEncoder",
    "InverseSTFT",
    "LatentUNet",
    "MelVAE",
    "PatchDiscriminator",
    "Stylizer",
    "VocosVocoder",
]
