"""Audio-driven picture stylization (Li et al., "Learning Visual Styles from Audio-Visual Associations").

Torch loads only when a name below is first used, so ``import engine`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "VisualConfig": "engine.visual.model",
    "AudioEncoder": "engine.visual.model",
    "StyleGenerator": "engine.visual.model",
    "AVDiscriminator": "engine.visual.model",
    "PatchNCELoss": "engine.visual.losses",
    "PictureData": "engine.visual.dataset",
    "PictureTrainConfig": "engine.visual.train",
    "PictureStage": "engine.visual.train",
    "train_picture": "engine.visual.train",
    "render_procedural_set": "engine.visual.procedural",
    "restyle_picture": "engine.visual.stylize",
    "restyle_video": "engine.visual.stylize",
    "restyle_still": "engine.visual.stylize",
    "DEFAULT_MODEL": "engine.visual.stylize",
    "load_stylizer": "engine.visual.train",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine.visual' has no attribute {name!r}")
