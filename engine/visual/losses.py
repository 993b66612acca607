"""The stylizer's losses: least-squares GAN and CUT's patch-wise contrastive (PatchNCE) term."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def lsgan(pred: Tensor, real: bool) -> Tensor:
    """Least-squares GAN: (D - 1)^2 for real, D^2 for fake (stabler than the log loss on small batches)."""
    return ((pred - (1.0 if real else 0.0)) ** 2).mean()


class PatchNCELoss(nn.Module):
    """InfoNCE between a patch of the output and the patch at the same place in the input (positive)
    against the other sampled patches of the same image (negatives). Low when the output keeps the
    input's structure patch by patch, whatever the colours and textures become."""

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """query, key: (B, P, D) L2-normalised; key is detached (CUT)."""
        logits = torch.bmm(query, key.detach().transpose(1, 2)) / self.temperature  # (B, P, P)
        target = torch.arange(query.shape[1], device=query.device).expand(query.shape[0], -1)
        return nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten())
