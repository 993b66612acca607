"""The four trained networks of one stylizer, held together so they save, load and move as one."""

from __future__ import annotations

from torch import nn

from engine.diffusion.config import StylizerConfig
from engine.diffusion.models.encoders import ConditionEncoder
from engine.diffusion.models.unet import LatentUNet
from engine.diffusion.models.vae import MelVAE
from engine.diffusion.models.vocoder import VocosVocoder


class Stylizer(nn.Module):
    """Container only (no forward): the pipeline decides how the parts run together."""

    def __init__(self, config: StylizerConfig | None = None) -> None:
        super().__init__()
        self.config = config or StylizerConfig()
        self.vae = MelVAE(self.config.vae)
        self.unet = LatentUNet(self.config.unet)
        self.cond_encoder = ConditionEncoder(self.config.condition)
        self.vocoder = VocosVocoder(self.config.vocoder)
