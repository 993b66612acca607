"""Blind scene analysis: a reference clip (dialogue in its scene) -> SceneProfile + excerpts.

Names load on first use: rendering needs only the profile, and the analysis modules pull in
scipy.signal and the separation models (a second of start-up for every `roomtone restyle`).
"""

from importlib import import_module

from engine.scene.profile import SceneProfile

_LAZY = {
    "SceneAnalysis": "engine.scene.analyse",
    "analyse_reference": "engine.scene.analyse",
    "load_reference": "engine.scene.media",
    "measure_reverb": "engine.scene.analyse",
}

__all__ = ["SceneAnalysis", "SceneProfile", "analyse_reference", "load_reference", "measure_reverb"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine.scene' has no attribute {name!r}")
