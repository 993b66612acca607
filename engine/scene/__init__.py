"""Blind scene analysis: a reference clip (dialogue in its scene) -> SceneProfile + excerpts."""

from engine.scene.analyse import SceneAnalysis, analyse_reference
from engine.scene.media import load_reference
from engine.scene.profile import SceneProfile

__all__ = ["SceneAnalysis", "SceneProfile", "analyse_reference", "load_reference"]
