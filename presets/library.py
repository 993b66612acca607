"""The preset library: the user's presets (writable) over the factory presets (read-only)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.errors import PresetError, printable
from presets.conditions import condition_store
from presets.store import (
    ScenePreset,
    export_preset,
    load_preset,
    profile_blend,
    read_exported,
    sanitise_name,
    save_preset,
)

FACTORY_DIR = Path(__file__).resolve().parent / "factory"
LIBRARY_ENV = "ROOMTONE_LIBRARY"


@dataclass(frozen=True)
class _Entry:
    folder: Path
    preset: ScenePreset | None  # None: skipped, see problem
    problem: str


def default_library_dir() -> Path:
    """ROOMTONE_LIBRARY wins, else the platform's per-user data dir (platformdirs)."""
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("roomtone", appauthor=False)) / "presets"


class Library:
    """List, get, create, rename, duplicate, delete, import, export and blend presets.

    Presets are addressed by name (case-insensitive) or id; user presets shadow nothing, and a
    name must be unique across user and factory presets so a name always means one scene.
    """

    def __init__(self, user_dir: str | Path | None = None, factory_dir: str | Path | None = FACTORY_DIR) -> None:
        self.user_dir = Path(user_dir) if user_dir is not None else default_library_dir()
        self.factory_dir = Path(factory_dir) if factory_dir is not None else None

    # ------------------------------------------------------------ reading
    def list(self) -> list[ScenePreset]:
        """All presets, factory first; a broken preset is skipped, see problems()."""
        return [e.preset for e in self._scan() if e.preset is not None]

    def problems(self) -> list[str]:
        """One line per preset folder that was skipped, naming it and the reason."""
        return [e.problem for e in self._scan() if e.preset is None]

    def _scan(self) -> list[_Entry]:
        """Every preset folder, each read on its own: whatever one folder holds, the others still load.

        A folder whose id an earlier one already has (a copy made by hand) is skipped, so an id means
        one folder and delete/rename act on the folder that was listed.
        """
        found: list[_Entry] = []
        ids: dict[str, Path] = {}
        for root, factory in ((self.factory_dir, True), (self.user_dir, False)):
            if root is None or not root.is_dir():
                continue
            try:
                folders = sorted(f for f in root.iterdir() if f.is_dir() and not f.name.startswith("."))
            except OSError as exc:
                found.append(_Entry(root, None, f"preset library {printable(root)}: {exc.strerror or exc}"))
                continue
            for folder in folders:
                try:
                    preset = load_preset(folder, factory=factory)
                except PresetError as exc:
                    found.append(_Entry(folder, None, str(exc)))
                    continue
                except Exception as exc:  # a case validation missed must still cost one line, not the library
                    found.append(_Entry(folder, None, f"preset {printable(folder)}: cannot be read "
                                                      f"({type(exc).__name__}: {printable(exc)})"))
                    continue
                if preset.id in ids:
                    found.append(_Entry(folder, None, f"preset {printable(folder)}: has the same id as "
                                                      f"{printable(ids[preset.id])}; remove one of them"))
                    continue
                ids[preset.id] = folder
                preset.condition_store = condition_store(folder, factory, self.user_dir)  # not shared yet
                found.append(_Entry(folder, preset, ""))
        return found

    def get(self, key: str) -> ScenePreset:
        wanted = key.strip().casefold()
        entries = self._scan()
        presets = [e.preset for e in entries if e.preset is not None]
        for p in presets:
            if p.id == key or p.name.casefold() == wanted:
                return p
        names = ", ".join(p.name for p in presets) or "none"
        problems = [e.problem for e in entries if e.preset is None]
        skipped = ""
        if problems:
            n = len(problems)
            skipped = (f"; {n} preset folder{'s' if n > 1 else ''} could not be read "
                       f"({problems[0]}{', ...' if n > 1 else ''})")
        raise PresetError(f"no preset named {key!r} (available: {names}){skipped}")

    def _folder(self, preset: ScenePreset) -> Path:
        """The folder a user preset was read from, or where a new one goes."""
        for e in self._scan():
            if e.preset is not None and not e.preset.factory and e.preset.id == preset.id:
                return e.folder
        return self.user_dir / preset.id

    def _check_new_name(self, name: str, allow_id: str | None = None) -> str:
        name = sanitise_name(name)
        for p in self.list():
            if p.name.casefold() == name.casefold() and p.id != allow_id:
                raise PresetError(f"a preset named {name!r} already exists")
        return name

    def _writable(self, key: str) -> ScenePreset:
        preset = self.get(key)
        if preset.factory:
            raise PresetError(f"{preset.name!r} is a factory preset and read-only; duplicate it first")
        return preset

    # ------------------------------------------------------------ writing
    def add(self, preset: ScenePreset) -> ScenePreset:
        """Store a new preset (from analysis, import or blend) under a unique name and id."""
        preset = replace(preset, name=self._check_new_name(preset.name), factory=False)
        # a new id also when a folder (even an unreadable one) has this name: add never replaces a folder
        if any(p.id == preset.id for p in self.list()) or os.path.lexists(self.user_dir / preset.id):
            preset = replace(preset, id=ScenePreset.__dataclass_fields__["id"].default_factory())
        folder = self.user_dir / preset.id
        save_preset(preset, folder)
        return replace(preset, condition_store=condition_store(folder, False, self.user_dir))

    def rename(self, key: str, new_name: str) -> ScenePreset:
        preset = self._writable(key)
        preset = replace(preset, name=self._check_new_name(new_name, allow_id=preset.id))
        save_preset(preset, self._folder(preset))
        return preset

    def duplicate(self, key: str, new_name: str | None = None) -> ScenePreset:
        src = self.get(key)
        name = new_name or self._free_name(f"{src.name} copy")
        fresh = ScenePreset(**{**src.__dict__, "name": name, "factory": False,
                               "id": ScenePreset.__dataclass_fields__["id"].default_factory()})
        return self.add(fresh)

    def delete(self, key: str) -> ScenePreset:
        preset = self._writable(key)
        shutil.rmtree(self._folder(preset))
        return preset

    def export(self, key: str, path: str | Path) -> Path:
        return export_preset(self.get(key), Path(path))

    def import_(self, path: str | Path, name: str | None = None) -> ScenePreset:
        preset = read_exported(Path(path))
        if name:
            preset = replace(preset, name=name)
        elif any(p.name.casefold() == preset.name.casefold() for p in self.list()):
            preset = replace(preset, name=self._free_name(preset.name))
        return self.add(preset)

    def blend(self, key_a: str, key_b: str, weight_b: float, name: str) -> ScenePreset:
        """A scene between two others: room and levels interpolated, ambience beds mixed."""
        if not 0.0 <= weight_b <= 1.0:
            raise PresetError(f"blend weight must be between 0 and 1, got {weight_b}")
        a, b = self.get(key_a), self.get(key_b)
        rate = max(a.ambience_rate_hz, b.ambience_rate_hz)
        amb = _mix_excerpts(
            _at_rate(a.ambience, a.ambience_rate_hz, rate), _at_rate(b.ambience, b.ambience_rate_hz, rate), weight_b
        )
        main = b if weight_b > 0.5 else a
        embeddings: dict[str, np.ndarray] = {}
        if a.embeddings_checkpoint and a.embeddings_checkpoint == b.embeddings_checkpoint:
            embeddings = {
                k: (1 - weight_b) * a.embeddings[k] + weight_b * b.embeddings[k]
                for k in a.embeddings
                if k in b.embeddings and a.embeddings[k].shape == b.embeddings[k].shape
            }
        preset = ScenePreset(
            name=name,
            profile=profile_blend(a.profile, b.profile, weight_b),
            ambience=amb,
            ambience_rate_hz=rate,
            reference=main.reference,
            reference_rate_hz=main.reference_rate_hz,
            source={"kind": "blend", "a": a.id, "b": b.id, "weight_b": weight_b},
            thumbnail_png=main.thumbnail_png,
            embeddings=embeddings,
            embeddings_checkpoint=a.embeddings_checkpoint if embeddings else None,
        )
        return self.add(preset)

    def _free_name(self, base: str) -> str:
        taken = {p.name.casefold() for p in self.list()}
        name, n = sanitise_name(base), 2
        candidate = name
        while candidate.casefold() in taken:
            candidate, n = f"{name} {n}", n + 1
        return candidate


def _at_rate(x: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    from engine.audio import resample

    return resample(x, from_hz, to_hz)


def _mix_excerpts(a: np.ndarray, b: np.ndarray, weight_b: float) -> np.ndarray:
    """Equal-power mix of two beds; the shorter loops so the blend is as long as the longer."""
    channels = max(a.shape[1], b.shape[1])
    n = max(len(a), len(b))

    def fit(x: np.ndarray) -> np.ndarray:
        x = np.repeat(x, channels, axis=1) if x.shape[1] != channels else x
        return np.resize(x, (n, channels)) if len(x) < n else x

    return (np.sqrt(1 - weight_b) * fit(a) + np.sqrt(weight_b) * fit(b)).astype(np.float32)
