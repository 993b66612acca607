"""Scene presets: the store format and the library (user presets over read-only factory ones)."""

from presets.create import preset_from_reference
from presets.library import FACTORY_DIR, LIBRARY_ENV, Library, default_library_dir
from presets.store import SCHEMA_VERSION, ScenePreset, export_preset, load_preset, read_exported, save_preset

__all__ = [
    "FACTORY_DIR",
    "LIBRARY_ENV",
    "Library",
    "SCHEMA_VERSION",
    "ScenePreset",
    "default_library_dir",
    "export_preset",
    "load_preset",
    "preset_from_reference",
    "read_exported",
    "save_preset",
]
