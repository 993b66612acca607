"""Roomtone's engine: restyle dry dialogue into a scene. The public face for the CLI and the GUI.

Heavy parts (analysis with its neural separators, the DSP engine) load on first use, so
`import engine` stays light for tools that only list presets.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from engine.errors import AnalysisError, Cancelled, InputError, OutputError, PresetError, RoomtoneError
from engine.progress import CancelToken, ProgressCallback, ProgressEvent
from engine.settings import ENGINES, Settings

__version__ = "0.1.0"

_LAZY = {
    "restyle": "engine.restyle",
    "restyle_file": "engine.restyle",
    "preview": "engine.restyle",
    "engine_status": "engine.restyle",
    "BatchRunner": "engine.batch",
    "BatchReport": "engine.batch",
    "Plan": "engine.batch",
    "FarmRunner": "engine.farm",
    "farm_status": "engine.farm",
    "check_ray_address": "engine.farm",
    "AUDIO_EXTENSIONS": "engine.batch",
    "Stems": "engine.render",
    "probe": "engine.audio",
    "AudioInfo": "engine.audio",
    "read_audio": "engine.audio",
    "write_audio": "engine.audio",
    "analyse_reference": "engine.scene",
    "load_reference": "engine.scene",
    "SceneAnalysis": "engine.scene",
    "SceneProfile": "engine.scene.profile",
    "synthesise_ir": "engine.match",
}

__all__ = [
    "AnalysisError",
    "Cancelled",
    "CancelToken",
    "ENGINES",
    "InputError",
    "OutputError",
    "PresetError",
    "ProgressCallback",
    "ProgressEvent",
    "RoomtoneError",
    "Settings",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
