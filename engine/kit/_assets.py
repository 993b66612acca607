"""Locate the recordings bundled with the kit, so code never reaches into a shared checkout."""

from __future__ import annotations

from pathlib import Path

from engine.errors import RoomtoneError

# The assets ship inside the wheel as package data, next to this module.
ASSETS_DIR = Path(__file__).parent / "assets"


def asset_dir(kind: str) -> Path:
    """Folder of one asset kind ('ambience' or 'speech'); a missing folder means a broken install."""
    folder = ASSETS_DIR / kind
    if not folder.is_dir():
        raise RoomtoneError(f"scene kit assets are missing ({folder}); reinstall Roomtone")
    return folder
