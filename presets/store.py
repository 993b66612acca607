"""Scene presets on disk: a folder of JSON + FLAC + safetensors + PNG per preset, never pickle.

A preset must survive being e-mailed between facilities, so everything read from disk is
validated (schema version, fields, sizes, finite numbers) before it reaches the DSP, and names
are sanitised because they become folder and file names.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.errors import PresetError
from engine.scene.profile import AmbienceTexture, SceneProfile

SCHEMA_VERSION = 1
PRESET_JSON = "preset.json"
AMBIENCE_FLAC = "ambience.flac"
REFERENCE_FLAC = "reference.flac"
EMBEDDINGS = "embeddings.safetensors"
THUMBNAIL = "thumbnail.png"
EXPORT_SUFFIX = ".rtpreset"

MAX_JSON_BYTES = 1 << 20
MAX_AUDIO_S = 120.0
MAX_THUMBNAIL_BYTES = 8 << 20
MAX_EMBEDDING_VALUES = 1 << 22
MAX_NAME_CHARS = 80
_REQUIRED = ("schema_version", "id", "name", "created_utc", "source", "profile")


@dataclass
class ScenePreset:
    """One scene: the profile for the match engine plus the audio it was learned from."""

    name: str
    profile: SceneProfile
    ambience: np.ndarray  # (n, ch) float32 clean ambience excerpt
    ambience_rate_hz: int
    reference: np.ndarray  # (n, 1) float32 reference excerpt, kept for re-embedding
    reference_rate_hz: int
    source: dict = field(default_factory=dict)  # what it was made from (kind, file, frame_s...)
    thumbnail_png: bytes | None = None
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    embeddings_checkpoint: str | None = None  # id of the diffusion checkpoint that embedded it
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_utc: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    factory: bool = False  # shipped presets are read-only

    def summary(self) -> dict:
        p = self.profile
        return {
            "id": self.id,
            "name": self.name,
            "factory": self.factory,
            "created_utc": self.created_utc,
            "source": self.source,
            "rt60_s": dict(zip((f"{int(b)}" for b in p.bands_hz), (round(t, 2) for t in p.rt60_s))),
            "drr_db": round(p.drr_db, 1),
            "ambience_to_speech_db": round(p.ambience_to_speech_db, 1),
            "ambience_s": round(len(self.ambience) / self.ambience_rate_hz, 1),
            "embeddings_checkpoint": self.embeddings_checkpoint,
        }


def sanitise_name(name: str) -> str:
    """Names become folder names and export file names: no separators, controls or dot-names."""
    if not isinstance(name, str):
        raise PresetError("a preset name must be text")
    text = unicodedata.normalize("NFC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = re.sub(r"[\\/:*?\"<>|]+", "-", text)
    text = re.sub(r"\s+", " ", text).strip(" .-")
    if not text:
        raise PresetError(f"{name!r} is not a usable preset name")
    if len(text) > MAX_NAME_CHARS:
        raise PresetError(f"preset name is longer than {MAX_NAME_CHARS} characters")
    return text


# ---------------------------------------------------------------- folder format


def save_preset(preset: ScenePreset, folder: Path) -> None:
    """Write atomically: build in a sibling temp folder, then swap, so a crash leaves old or new."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        _write_files(preset, tmp)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:6]}")
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_files(preset: ScenePreset, folder: Path) -> None:
    meta = {
        "schema_version": SCHEMA_VERSION,
        "id": preset.id,
        "name": sanitise_name(preset.name),
        "created_utc": preset.created_utc,
        "source": preset.source,
        "profile": preset.profile.to_dict(),
        "ambience_rate_hz": preset.ambience_rate_hz,
        "reference_rate_hz": preset.reference_rate_hz,
        "embeddings_checkpoint": preset.embeddings_checkpoint,
    }
    (folder / PRESET_JSON).write_text(json.dumps(meta, indent=2, allow_nan=False))
    sf.write(folder / AMBIENCE_FLAC, preset.ambience, preset.ambience_rate_hz, subtype="PCM_24")
    sf.write(folder / REFERENCE_FLAC, preset.reference, preset.reference_rate_hz, subtype="PCM_24")
    if preset.thumbnail_png:
        (folder / THUMBNAIL).write_bytes(preset.thumbnail_png)
    if preset.embeddings:
        from safetensors.numpy import save_file

        save_file(
            {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in preset.embeddings.items()},
            str(folder / EMBEDDINGS),
        )


def load_preset(folder: Path, factory: bool = False) -> ScenePreset:
    """Read and validate one preset folder; every problem is a PresetError naming it."""
    folder = Path(folder)
    try:
        return _load(folder, factory)
    except PresetError as exc:
        raise PresetError(f"preset {folder.name}: {exc}") from None


def _load(folder: Path, factory: bool) -> ScenePreset:
    meta_path = folder / PRESET_JSON
    if not meta_path.is_file():
        raise PresetError(f"{PRESET_JSON} is missing")
    if meta_path.stat().st_size > MAX_JSON_BYTES:
        raise PresetError(f"{PRESET_JSON} is absurdly large")
    try:
        meta = json.loads(meta_path.read_text(), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PresetError(f"{PRESET_JSON} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise PresetError(f"{PRESET_JSON} must hold an object")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise PresetError(f"missing field(s): {', '.join(missing)}")
    version = meta["schema_version"]
    if version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        hint = "upgrade Roomtone to use it" if newer else "re-create it from its reference"
        raise PresetError(f"schema version {version!r} is not supported (expected {SCHEMA_VERSION}); {hint}")
    if not isinstance(meta["id"], str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", meta["id"]):
        raise PresetError("id must be 1-64 letters, digits, '-' or '_'")
    if not isinstance(meta["source"], dict):
        raise PresetError("source must be an object")
    name = sanitise_name(meta["name"])
    profile = SceneProfile.from_dict(meta["profile"])
    ambience, amb_rate = _read_flac(folder / AMBIENCE_FLAC)
    reference, ref_rate = _read_flac(folder / REFERENCE_FLAC)
    thumb = None
    if (folder / THUMBNAIL).is_file():
        if (folder / THUMBNAIL).stat().st_size > MAX_THUMBNAIL_BYTES:
            raise PresetError("thumbnail is absurdly large")
        thumb = (folder / THUMBNAIL).read_bytes()
        if not thumb.startswith(b"\x89PNG\r\n\x1a\n"):
            raise PresetError("thumbnail is not a PNG image")
    embeddings = _read_embeddings(folder / EMBEDDINGS)
    checkpoint = meta.get("embeddings_checkpoint")
    if checkpoint is not None and not isinstance(checkpoint, str):
        raise PresetError("embeddings_checkpoint must be text")
    return ScenePreset(
        name=name,
        profile=profile,
        ambience=ambience,
        ambience_rate_hz=amb_rate,
        reference=reference[:, :1],
        reference_rate_hz=ref_rate,
        source=meta["source"],
        thumbnail_png=thumb,
        embeddings=embeddings,
        embeddings_checkpoint=checkpoint,
        id=meta["id"],
        created_utc=str(meta["created_utc"]),
        factory=factory,
    )


def _reject_constant(token: str) -> float:
    raise PresetError(f"preset.json holds a non-finite number ({token})")


def _read_flac(path: Path) -> tuple[np.ndarray, int]:
    if not path.is_file():
        raise PresetError(f"{path.name} is missing")
    try:
        info = sf.info(str(path))
    except RuntimeError as exc:
        raise PresetError(f"{path.name} is not readable audio ({exc})") from None
    if info.frames <= 0:
        raise PresetError(f"{path.name} is empty")
    if info.frames / info.samplerate > MAX_AUDIO_S or info.channels > 2:
        raise PresetError(f"{path.name} is absurdly large ({info.frames} frames, {info.channels} ch)")
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if not np.isfinite(data).all():
        raise PresetError(f"{path.name} contains non-finite samples")
    return data, int(rate)


def _read_embeddings(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises several types for a corrupt header
        raise PresetError(f"{EMBEDDINGS} is corrupt ({exc})") from None
    if sum(t.size for t in tensors.values()) > MAX_EMBEDDING_VALUES:
        raise PresetError(f"{EMBEDDINGS} is absurdly large")
    for key, t in tensors.items():
        if not np.isfinite(t).all():
            raise PresetError(f"embedding {key!r} contains non-finite numbers")
    return {k: t.astype(np.float32) for k, t in tensors.items()}


# ---------------------------------------------------------------- portable file


def export_preset(preset: ScenePreset, path: Path) -> Path:
    """One portable zip file; written to a temp name first so a failed export leaves nothing."""
    path = Path(path)
    if path.suffix != EXPORT_SUFFIX:
        path = path.with_name(path.name + EXPORT_SUFFIX)
    with tempfile.TemporaryDirectory() as tmp:
        _write_files(replace(preset, factory=False), Path(tmp))
        part = path.with_name(f".{path.name}.partial")
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(Path(tmp).iterdir()):
                zf.write(f, f.name)
        os.replace(part, path)
    return path


def read_exported(path: Path) -> ScenePreset:
    path = Path(path)
    if not path.is_file():
        raise PresetError(f"{path}: no such preset file")
    allowed = {PRESET_JSON, AMBIENCE_FLAC, REFERENCE_FLAC, EMBEDDINGS, THUMBNAIL}
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            for m in members:
                if m.filename not in allowed:
                    raise PresetError(f"{path.name}: unexpected member {m.filename!r}")
                if m.file_size > 64 << 20:
                    raise PresetError(f"{path.name}: member {m.filename} is absurdly large")
            with tempfile.TemporaryDirectory() as tmp:
                for m in members:
                    (Path(tmp) / m.filename).write_bytes(zf.read(m))
                return load_preset(Path(tmp))
    except zipfile.BadZipFile:
        raise PresetError(f"{path.name}: not a Roomtone preset file") from None


def profile_blend(a: SceneProfile, b: SceneProfile, weight_b: float) -> SceneProfile:
    """Blend in perceptual units: RT60 geometrically, levels in dB, so halfway sounds halfway."""
    w = float(weight_b)

    def lin(x, y):
        return tuple((1 - w) * np.asarray(x) + w * np.asarray(y))

    texture = None
    if a.texture is not None and b.texture is not None:
        texture = AmbienceTexture(
            **{k: tuple(float(v) for v in lin(getattr(a.texture, k), getattr(b.texture, k)))
               for k in AmbienceTexture.__dataclass_fields__}
        )
    rt = np.exp((1 - w) * np.log(a.rt60_s) + w * np.log(b.rt60_s))
    blended = SceneProfile(
        rt60_s=tuple(float(t) for t in rt),
        drr_db=(1 - w) * a.drr_db + w * b.drr_db,
        eq_gain_db=tuple(float(v) for v in lin(a.eq_gain_db, b.eq_gain_db)),
        ambience_spectrum_db=tuple(float(v) for v in lin(a.ambience_spectrum_db, b.ambience_spectrum_db)),
        ambience_to_speech_db=(1 - w) * a.ambience_to_speech_db + w * b.ambience_to_speech_db,
        speech_loudness_lufs=(1 - w) * a.speech_loudness_lufs + w * b.speech_loudness_lufs,
        reference_sample_rate_hz=min(a.reference_sample_rate_hz, b.reference_sample_rate_hz),
        texture=texture,
        bands_hz=a.bands_hz,
        eq_bands_hz=a.eq_bands_hz,
    )
    blended.validate()
    return blended
