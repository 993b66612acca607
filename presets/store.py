"""Scene presets on disk: a folder of JSON + FLAC + safetensors + PNG per preset, never pickle.

A preset must survive being e-mailed between facilities, so everything read from disk is
validated before it reaches the DSP: sizes and headers (file bytes, archive members, audio rate
and length, image width and height) before anything is decoded, then every value after conversion
to the type it is used in (float32 embeddings, float profile numbers). One helper per kind of thing
(`_check_excerpt`, `_check_thumbnail`, `embeddings_as_used`, `_check_members`), shared by
loading, importing and saving, so a preset that is written is one that loads. Names are sanitised
because they become folder and file names.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import tempfile
import unicodedata
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from engine.errors import PresetError, printable
from engine.scene.profile import SAMPLE_RATE_RANGE_HZ, AmbienceTexture, SceneProfile, finite_number

if TYPE_CHECKING:
    from engine.stylize.condition import ConditionStore

SCHEMA_VERSION = 1
PRESET_JSON = "preset.json"
AMBIENCE_FLAC = "ambience.flac"
REFERENCE_FLAC = "reference.flac"
EMBEDDINGS = "embeddings.safetensors"
THUMBNAIL = "thumbnail.png"
EXPORT_SUFFIX = ".rtpreset"

# What a preset may hold. Each file's bytes are bounded before it is read (in a folder by its size, in
# an archive by the member's declared size, which zipfile then enforces while inflating).
MAX_FILE_BYTES = {
    PRESET_JSON: 1 << 20,
    AMBIENCE_FLAC: 64 << 20,
    REFERENCE_FLAC: 64 << 20,
    EMBEDDINGS: 40 << 20,
    THUMBNAIL: 8 << 20,
}
EXCERPT_S = (0.5, 120.0)  # the ambience bed's shortest grain (match.ambience_bed.GRAIN_MIN_S) .. generous
MAX_EXCERPT_SAMPLES = 1 << 24  # frames x channels, 64 MB as float32: 43 s of 192 kHz stereo
MAX_THUMBNAIL_PX = 4096  # width and height; video thumbnails are made 512 px wide
MAX_EMBEDDINGS = 16
MAX_EMBEDDING_VALUES = 1 << 22
MAX_EMBEDDING_ABS = 1e3  # the shipped encoder peaks near 3; 3e38 turns every diffusion render into NaN
MAX_SOURCE_DEPTH = 8
MAX_NAME_CHARS = 80
_REQUIRED = ("schema_version", "id", "name", "created_utc", "source", "profile")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    # Where re-embedded condition tokens are kept (presets.conditions; set by Library, never written
    # to disk): renders never change a preset, several threads share one.
    condition_store: ConditionStore | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_analysis(cls, name: str, analysis, **fields) -> "ScenePreset":
        """A preset from an engine.scene analysis (its profile and its excerpts, which share one rate);
        ``fields``: the rest (source, thumbnail_png, embeddings, ...)."""
        return cls(name=name, profile=analysis.profile, ambience=analysis.ambience_excerpt,
                   ambience_rate_hz=analysis.excerpt_sample_rate_hz, reference=analysis.reference_excerpt,
                   reference_rate_hz=analysis.excerpt_sample_rate_hz, **fields)

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
            "c50_db": None if p.c50_db is None else round(p.c50_db, 1),
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
    check_preset(preset)
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
    """Read and validate one preset folder; every problem is one PresetError line naming the folder."""
    folder = Path(folder)
    try:
        return _load(folder, factory)
    except PresetError as exc:
        raise PresetError(f"preset {printable(folder)}: {exc}") from None
    except OSError as exc:  # unreadable files, a folder that vanished while it was read
        raise PresetError(f"preset {printable(folder)}: {_os_reason(exc)}") from None


def check_preset(preset: ScenePreset) -> None:
    """Everything a loaded preset must satisfy, for one built in memory (analysis, blend) before it is
    written: the same helpers that check a file's header check the decoded arrays."""
    sanitise_name(preset.name)
    _check_meta(preset.id, preset.created_utc, preset.source, preset.embeddings_checkpoint)
    preset.profile.validate()
    for name, audio, rate in ((AMBIENCE_FLAC, preset.ambience, preset.ambience_rate_hz),
                              (REFERENCE_FLAC, preset.reference, preset.reference_rate_hz)):
        audio = np.asarray(audio)
        if audio.ndim != 2:
            raise PresetError(f"{name} must be (frames, channels), got shape {audio.shape}")
        _check_excerpt(name, audio.shape[0], audio.shape[1], rate)
        if not np.isfinite(audio).all():
            raise PresetError(f"{name} contains non-finite samples")
    if preset.thumbnail_png:
        _check_thumbnail(preset.thumbnail_png)
    embeddings_as_used(preset.embeddings)


def _load(folder: Path, factory: bool) -> ScenePreset:
    meta = _read_meta(folder / PRESET_JSON)
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise PresetError(f"missing field(s): {', '.join(missing)}")
    version = meta["schema_version"]
    if version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        hint = "upgrade Roomtone to use it" if newer else "re-create it from its reference"
        raise PresetError(f"schema version {printable(repr(version))[:40]} is not supported "
                          f"(expected {SCHEMA_VERSION}); {hint}")
    checkpoint = meta.get("embeddings_checkpoint")
    _check_meta(meta["id"], meta["created_utc"], meta["source"], checkpoint)
    name = sanitise_name(meta["name"])
    profile = SceneProfile.from_dict(meta["profile"])
    ambience, amb_rate = _read_excerpt(folder / AMBIENCE_FLAC)
    reference, ref_rate = _read_excerpt(folder / REFERENCE_FLAC)
    thumb = None
    if (folder / THUMBNAIL).exists():
        thumb = _check_thumbnail(_sized(folder / THUMBNAIL).read_bytes())
    return ScenePreset(
        name=name,
        profile=profile,
        ambience=ambience,
        ambience_rate_hz=amb_rate,
        reference=reference[:, :1],
        reference_rate_hz=ref_rate,
        source=meta["source"],
        thumbnail_png=thumb,
        embeddings=_read_embeddings(folder / EMBEDDINGS),
        embeddings_checkpoint=checkpoint,
        id=meta["id"],
        created_utc=meta["created_utc"],
        factory=factory,
    )


def _sized(path: Path) -> Path:
    """`path`, once it is a regular file no larger than MAX_FILE_BYTES allows for its name."""
    if not path.is_file():
        raise PresetError(f"{path.name} is not a regular file" if path.exists() else f"{path.name} is missing")
    size, limit = path.stat().st_size, MAX_FILE_BYTES[path.name]
    if size > limit:
        raise PresetError(f"{path.name} is absurdly large ({size / 2**20:.1f} MB, at most {limit >> 20} MB)")
    return path


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(_sized(path).read_bytes().decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise PresetError(f"{PRESET_JSON} is nested too deeply to be a preset") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PresetError(f"{PRESET_JSON} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise PresetError(f"{PRESET_JSON} must hold an object")
    return meta


def _check_meta(ident: object, created_utc: object, source: object, checkpoint: object) -> None:
    if not isinstance(ident, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", ident):
        raise PresetError("id must be 1-64 letters, digits, '-' or '_'")
    if not isinstance(created_utc, str) or len(created_utc) > 64:
        raise PresetError("created_utc must be a date as text")
    if checkpoint is not None and (not isinstance(checkpoint, str) or len(checkpoint) > 256):
        raise PresetError("embeddings_checkpoint must be text of at most 256 characters")
    _check_source(source)


# What a preset records about its making (presets.create, Library.blend); other keys are kept as they are.
_SOURCE_TEXT = ("kind", "file", "a", "b")
_SOURCE_NUMBERS = ("duration_s", "frame_s", "sample_rate_hz", "channels", "speech_fraction", "weight_b")


def _check_source(source: object) -> None:
    """The known keys have the types the GUI and `preset similar` format them as; the depth is bounded,
    so writing the preset back (json.dumps recurses) cannot fail."""
    if not isinstance(source, dict):
        raise PresetError("source must be an object")
    level, depth = [source], 1
    while level:  # breadth first, no recursion: a hostile file decides the depth
        if depth > MAX_SOURCE_DEPTH:
            raise PresetError(f"source is nested more than {MAX_SOURCE_DEPTH} levels deep")
        level = [v for x in level for v in (x.values() if isinstance(x, dict) else x)
                 if isinstance(v, (dict, list))]
        depth += 1
    for key in _SOURCE_TEXT:
        if key in source and not isinstance(source[key], str):
            raise PresetError(f"source.{key} must be text")
    for key in _SOURCE_NUMBERS:
        if key in source:
            finite_number(f"source.{key}", source[key])
    analysis = source.get("analysis", {})
    learned = analysis.get("learned", []) if isinstance(analysis, dict) else None
    if (not isinstance(analysis, dict) or not isinstance(analysis.get("estimator", ""), str)
            or not isinstance(learned, list) or not all(isinstance(x, str) for x in learned)):
        raise PresetError("source.analysis must be an object with an estimator name and a list of learned fields")


def _reject_constant(token: str) -> float:
    raise PresetError(f"preset.json holds a non-finite number ({token})")


def _check_excerpt(name: str, frames: int, channels: int, rate: object) -> None:
    """Rate, length, channels and size of an audio excerpt: from a file's header before it is decoded,
    or from an array. A 1 Hz or 1-frame ambience would loop one sample into the bed and clip outputs."""
    lo, hi = SAMPLE_RATE_RANGE_HZ
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not lo <= rate <= hi:
        raise PresetError(f"{name} has a sample rate of {rate} Hz (expected {lo}-{hi} Hz)")
    if not 1 <= channels <= 2:
        raise PresetError(f"{name} has {channels} channels (expected 1 or 2)")
    seconds = frames / rate
    if not EXCERPT_S[0] <= seconds <= EXCERPT_S[1]:
        raise PresetError(f"{name} is {seconds:.3g} s long ({frames} frames; "
                          f"expected {EXCERPT_S[0]:g}-{EXCERPT_S[1]:g} s)")
    if frames * channels > MAX_EXCERPT_SAMPLES:
        raise PresetError(f"{name} is absurdly large ({frames} frames x {channels} channels at {rate} Hz)")


def _read_excerpt(path: Path) -> tuple[np.ndarray, int]:
    try:
        with sf.SoundFile(str(_sized(path))) as f:
            if f.format != "FLAC":
                raise PresetError(f"{path.name} is {f.format} audio, not FLAC")
            _check_excerpt(path.name, f.frames, f.channels, f.samplerate)
            audio = f.read(f.frames, dtype="float32", always_2d=True)
            rate, frames = int(f.samplerate), f.frames
    except RuntimeError as exc:  # soundfile's LibsndfileError: not audio, lost sync, truncated
        raise PresetError(f"{path.name} is not readable FLAC audio ({printable(exc)})") from None
    if len(audio) != frames:
        raise PresetError(f"{path.name} is truncated ({len(audio)} of {frames} frames)")
    if not np.isfinite(audio).all():
        raise PresetError(f"{path.name} contains non-finite samples")
    return audio, rate


def _check_thumbnail(png: bytes) -> bytes:
    """Width and height from the PNG header (IHDR) first, so a 20000 x 20000 image (a few hundred KB
    on disk, gigabytes decoded) is refused unread; then a decode, so what the GUI and the diffusion
    engine open later opens."""
    if not isinstance(png, bytes) or png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR" or len(png) < 33:
        raise PresetError(f"{THUMBNAIL} is not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    if not (1 <= width <= MAX_THUMBNAIL_PX and 1 <= height <= MAX_THUMBNAIL_PX):
        raise PresetError(f"{THUMBNAIL} is {width} x {height} pixels "
                          f"(expected 1 to {MAX_THUMBNAIL_PX} x {MAX_THUMBNAIL_PX})")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
            img.load()
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, zlib.error... for a bad file
        raise PresetError(f"{THUMBNAIL} is damaged ({printable(exc)})") from None
    return png


def _read_embeddings(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    from safetensors.numpy import load

    data = _sized(path).read_bytes()
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises several types for a corrupt header
        raise PresetError(f"{EMBEDDINGS} is corrupt ({printable(exc)})") from None
    return embeddings_as_used(tensors)


def embeddings_as_used(tensors: dict) -> dict[str, np.ndarray]:
    """The embeddings as the engines use them (float32, (rows, values)), checked after that conversion:
    1e300 in float64 is inf in float32, and 3e38 is finite but overflows the first matrix product."""
    if len(tensors) > MAX_EMBEDDINGS:
        raise PresetError(f"{EMBEDDINGS} holds {len(tensors)} embeddings (at most {MAX_EMBEDDINGS})")
    out: dict[str, np.ndarray] = {}
    for key, t in tensors.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key):
            raise PresetError(f"{EMBEDDINGS}: {printable(repr(key))[:80]} is not an embedding name")
        t = np.asarray(t)
        if t.ndim != 2 or t.size == 0 or t.dtype.kind not in "fiu":
            raise PresetError(f"embedding {key!r} is {t.dtype} shaped {t.shape} (expected float rows x values)")
        with np.errstate(over="ignore", invalid="ignore"):
            used = t.astype(np.float32)
        if not np.isfinite(used).all() or float(np.abs(used).max()) > MAX_EMBEDDING_ABS:
            raise PresetError(f"embedding {key!r} holds values beyond +-{MAX_EMBEDDING_ABS:g} (or non-finite) "
                              "as float32")
        out[key] = used
    if sum(t.size for t in out.values()) > MAX_EMBEDDING_VALUES:
        raise PresetError(f"{EMBEDDINGS} is absurdly large")
    return out


def _os_reason(exc: OSError) -> str:
    name = Path(exc.filename).name if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    return printable(f"{name}: {reason}" if name else reason)


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
    """A preset from a .rtpreset file; every problem is one PresetError line naming that file."""
    path = Path(path)
    try:
        return _read_archive(path)
    except PresetError as exc:
        raise PresetError(f"{printable(path)}: {exc}") from None
    except OSError as exc:
        raise PresetError(f"{printable(path)}: {_os_reason(exc)}") from None


def _read_archive(path: Path) -> ScenePreset:
    if not path.is_file():
        raise PresetError("no such preset file")
    if path.stat().st_size > sum(MAX_FILE_BYTES.values()):  # bounds the archive's directory too
        raise PresetError(f"is absurdly large for a preset ({path.stat().st_size / 2**20:.0f} MB)")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile):
        raise PresetError("not a Roomtone preset file (not a zip archive)") from None
    with zf, tempfile.TemporaryDirectory() as tmp:
        members = zf.infolist()
        _check_members(members)
        for m in members:
            try:
                data = zf.read(m)
            except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:  # bad CRC, bad stream
                raise PresetError(f"member {m.filename} is damaged ({printable(exc)})") from None
            (Path(tmp) / m.filename).write_bytes(data)
        return _load(Path(tmp), factory=False)


def _check_members(members: list[zipfile.ZipInfo]) -> None:
    """What an archive claims, checked before anything is extracted: only the preset's own file names, each
    at most once (so at most five members), unencrypted, stored or deflated (what export writes), and each
    no larger than that file may be."""
    seen: set[str] = set()
    for m in members:
        if m.filename not in MAX_FILE_BYTES:
            raise PresetError(f"unexpected member {printable(repr(m.filename))[:80]}")
        if m.filename in seen:
            raise PresetError(f"holds {m.filename} more than once")
        seen.add(m.filename)
        if m.flag_bits & 0x1:
            raise PresetError(f"member {m.filename} is encrypted")
        if m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise PresetError(f"member {m.filename} uses compression method {m.compress_type} "
                              "(a preset file is stored or deflated)")
        if m.file_size > MAX_FILE_BYTES[m.filename]:
            raise PresetError(f"member {m.filename} is absurdly large ({m.file_size / 2**20:.1f} MB, "
                              f"at most {MAX_FILE_BYTES[m.filename] >> 20} MB)")


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
        # clarity blends in dB like the levels; a preset without it renders the exponential tail,
        # which no number stands for, so a blend with one keeps none
        c50_db=None if a.c50_db is None or b.c50_db is None else (1 - w) * a.c50_db + w * b.c50_db,
        bands_hz=a.bands_hz,
        eq_bands_hz=a.eq_bands_hz,
    )
    blended.validate()
    return blended
