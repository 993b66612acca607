"""Hostile preset folders: each one is refused from what it claims (before decoding), with one line naming
it, and a library holding it still lists and renders with the others (issue 19)."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.errors import PresetError
from presets import Library, load_preset
from tests.conftest import write_tone
from tests.hostile.conftest import run_unprivileged


# ---------------------------------------------------------------- how a folder is spoiled


def _meta(edit):
    def apply(folder: Path) -> None:
        meta = json.loads((folder / "preset.json").read_text())
        edit(meta)
        (folder / "preset.json").write_text(json.dumps(meta))

    return apply


def _profile(**fields):
    return _meta(lambda m: m["profile"].update(fields))


def _texture(**fields):
    return _meta(lambda m: m["profile"]["texture"].update(fields))


def _text(text: str | bytes):
    def apply(folder: Path) -> None:
        (folder / "preset.json").write_bytes(text.encode() if isinstance(text, str) else text)

    return apply


def _replace_number(field: str, literal: str):
    """Writes a JSON number Python's json module would never produce (a 400-digit integer, say)."""

    def apply(folder: Path) -> None:
        meta = json.loads((folder / "preset.json").read_text())
        meta["profile"][field] = "@@"
        (folder / "preset.json").write_text(json.dumps(meta).replace('"@@"', literal))

    return apply


def _audio(name: str, frames: int, rate: int, channels: int = 1, format: str = "FLAC", subtype: str = "PCM_16",
           value: float = 0.0):
    def apply(folder: Path) -> None:
        with sf.SoundFile(folder / name, "w", rate, channels, subtype, format=format) as f:
            block = np.full((min(frames, 1 << 20), channels), value, np.float32)
            left = frames
            while left > 0:
                f.write(block[:left])
                left -= len(block)

    return apply


def _truncated(name: str):
    def apply(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 3])

    return apply


def _sparse(name: str, size: int):
    def apply(folder: Path) -> None:
        with open(folder / name, "r+b") as f:
            f.truncate(size)

    return apply


def _directory(name: str):
    def apply(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return apply


def png(width: int, height: int, rows: bytes | None = None) -> bytes:
    """A real 1-bit greyscale PNG: 20000 x 20000 compresses to ~50 KB and decodes to 400 megapixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    if rows is None:
        row = b"\x00" + b"\x00" * ((width + 7) // 8)
        z = zlib.compressobj(9)
        rows = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _thumbnail(data: bytes):
    def apply(folder: Path) -> None:
        (folder / "thumbnail.png").write_bytes(data)

    return apply


def _embeddings(tensors: dict[str, np.ndarray] | None = None, raw: bytes | None = None):
    def apply(folder: Path) -> None:
        if raw is not None:
            (folder / "embeddings.safetensors").write_bytes(raw)
            return
        from safetensors.numpy import save_file

        save_file(tensors, str(folder / "embeddings.safetensors"))

    return apply


def _nested(depth: int) -> dict:
    value: object = 1
    for _ in range(depth):
        value = {"x": value}
    return value  # type: ignore[return-value]


BAD_FOLDERS = {
    # preset.json: every field's type, shape and range
    "drr-db-list": (_profile(drr_db=[1, 2]), "drr_db"),
    "rt60-scalar": (_profile(rt60_s=1.5), "rt60_s"),
    "rt60-nested-list": (_profile(rt60_s=[[1.0]] * 7), "rt60_s"),
    "deeply-nested-json": (_text("[" * 200_000 + "]" * 200_000), "nested"),
    "deeply-nested-profile": (_text('{"profile": ' + "[" * 50_000 + "]" * 50_000 + "}"), "nested"),
    "deeply-nested-source": (_meta(lambda m: m.update(source=_nested(200))), "source"),
    "source-analysis-text": (_meta(lambda m: m["source"].update(analysis="dsp")), "source.analysis"),  # preset similar
    "source-frame-text": (_meta(lambda m: m["source"].update(frame_s="1.0")), "source.frame_s"),  # the GUI's :g
    "source-file-number": (_meta(lambda m: m["source"].update(file=5)), "source.file"),
    "integer-overflow": (_replace_number("drr_db", "1" + "0" * 400), "drr_db"),
    "band-zero": (_profile(bands_hz=[0.0, 250, 500, 1000, 2000, 4000, 8000]), "bands_hz"),
    "band-negative": (_profile(eq_bands_hz=[-40.0] + [1000.0 * 2 ** (k / 3) for k in range(-13, 15)]), "eq_bands_hz"),
    "bands-decreasing": (_profile(bands_hz=[8000.0, 4000, 2000, 1000, 500, 250, 125]), "bands_hz"),
    "bands-repeated": (_profile(bands_hz=[1000.0] * 7), "bands_hz"),
    "bands-scalar": (_profile(bands_hz=1000.0), "bands_hz"),
    "bands-above-hearing": (_profile(bands_hz=[1e6, 2e6, 3e6, 4e6, 5e6, 6e6, 7e6]), "bands_hz"),
    "eq-gain-text": (_profile(eq_gain_db="flat"), "eq_gain_db"),
    "rate-fraction": (_profile(reference_sample_rate_hz=48000.5), "reference_sample_rate_hz"),
    "rate-text": (_profile(reference_sample_rate_hz="48000"), "reference_sample_rate_hz"),
    "rate-list": (_profile(reference_sample_rate_hz=[48000]), "reference_sample_rate_hz"),
    "drr-bool": (_profile(drr_db=True), "drr_db"),
    "profile-list": (_meta(lambda m: m.update(profile=[])), "profile"),
    "texture-short": (_texture(envelope_mean_db=[-40.0] * 3), "envelope_mean_db"),
    "texture-scalar": (_texture(envelope_std_db=3.0), "envelope_std_db"),
    "texture-nested": (_texture(envelope_skew=[[0.1]] * 7), "envelope_skew"),
    "texture-huge": (_texture(modulation_power_db=[1e300] * 8), "modulation_power_db"),
    "texture-wrong-count": (_texture(modulation_power_db=[-20.0] * 500), "modulation_power_db"),
    "texture-list": (_profile(texture=[]), "texture"),
    "texture-extra-field": (_texture(envelope_kurtosis=[1.0] * 7), "texture"),
    "name-number": (_meta(lambda m: m.update(name=5)), "name"),
    "created-object": (_meta(lambda m: m.update(created_utc={"year": [2024] * 1000})), "created_utc"),
    "checkpoint-long": (_meta(lambda m: m.update(embeddings_checkpoint="x" * 100_000)), "embeddings_checkpoint"),
    "not-utf8": (_text(b'{"name": "\xff\xfe"}'), "preset.json"),
    "json-top-list": (_text("[]"), "preset.json"),
    # audio excerpts: rate, length, channels and size from the header, before decoding
    "ambience-655khz-110s": (_audio("ambience.flac", 655_350 * 110, 655_350), "ambience.flac"),
    "ambience-1hz": (_audio("ambience.flac", 10, 1), "ambience.flac"),
    "ambience-1-frame": (_audio("ambience.flac", 1, 48000), "ambience.flac"),
    "ambience-0.1s": (_audio("ambience.flac", 4800, 48000), "ambience.flac"),
    "ambience-8-channels": (_audio("ambience.flac", 48000, 48000, channels=8), "ambience.flac"),
    "ambience-float-wav-1e30": (_audio("ambience.flac", 48000, 48000, format="WAV", subtype="FLOAT", value=1e30),
                                "ambience.flac"),
    "ambience-truncated": (_truncated("ambience.flac"), "ambience.flac"),
    "ambience-100MB": (_sparse("ambience.flac", 100 << 20), "ambience.flac"),
    "ambience-folder": (_directory("ambience.flac"), "ambience.flac"),
    "reference-655khz": (_audio("reference.flac", 655_350 * 20, 655_350), "reference.flac"),
    "reference-1-frame": (_audio("reference.flac", 1, 48000), "reference.flac"),
    # thumbnails: pixel count from the PNG header, before decoding
    "png-20000-squared": (_thumbnail(png(20000, 20000)), "thumbnail"),
    "png-100000-wide": (_thumbnail(png(100_000, 1)), "thumbnail"),
    "png-zero-size": (_thumbnail(png(0, 10, rows=b"")), "thumbnail"),
    "png-no-header": (_thumbnail(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30), "thumbnail"),
    "png-folder": (_directory("thumbnail.png"), "thumbnail"),
    # embeddings: finite and bounded in the float32 they are used as, sensible shapes
    "embedding-1e300-float64": (_embeddings({"scene": np.full((1, 8), 1e300)}), "scene"),
    "embedding-3e38-float32": (_embeddings({"condition_tokens": np.full((4, 8), 3e38, np.float32)}),
                               "condition_tokens"),
    "embedding-int64-huge": (_embeddings({"scene": np.full((1, 8), 2**62, np.int64)}), "scene"),
    "embedding-3d": (_embeddings({"scene": np.zeros((2, 2, 2), np.float32)}), "scene"),
    "embedding-empty": (_embeddings({"scene": np.zeros((0, 8), np.float32)}), "scene"),
    "embedding-scalar": (_embeddings({"scene": np.zeros((), np.float32)}), "scene"),
    "embedding-1000-keys": (_embeddings({f"k{i}": np.zeros((1, 1), np.float32) for i in range(1000)}),
                            "embeddings"),
    "embedding-header-lies": (_embeddings(raw=struct.pack("<Q", 1 << 40) + b"{}"), "embeddings"),
    "embedding-100MB": (_sparse("embeddings.safetensors", 100 << 20), "embeddings"),
}


def spoil(folder: Path, case: str) -> None:
    """A saved preset folder (with a thumbnail and embeddings, see `saved`) made hostile in one way."""
    BAD_FOLDERS[case][0](folder)


@pytest.fixture
def saved(tmp_path, make_preset):
    """make(name, root=tmp_path/"lib"): the folder of a good preset added to the library at root, with a real
    thumbnail, embeddings and a texture, so that each part can be spoiled."""

    def make(name: str = "Bad One", root: Path | None = None) -> Path:
        p = make_preset(name)
        p.thumbnail_png = _real_png()
        p.embeddings = {"scene": np.linspace(-1, 1, 8, dtype=np.float32)[None]}
        p.profile = _with_texture(p.profile)
        lib = Library(root or tmp_path / "lib", factory_dir=None)
        p = lib.add(p)
        return lib.user_dir / p.id

    return make


def _real_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 36), (40, 80, 120)).save(buf, format="PNG")
    return buf.getvalue()


def _with_texture(profile):
    from dataclasses import replace

    from engine.scene.profile import AmbienceTexture

    n = len(profile.bands_hz)
    return replace(profile, texture=AmbienceTexture((-50.0,) * n, (4.0,) * n, (0.5,) * n, (-20.0,) * 8))


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_a_hostile_folder_is_one_clear_line(saved, case):
    folder = saved()
    assert load_preset(folder).name == "Bad One"  # the preset was good before it was spoiled
    spoil(folder, case)
    with pytest.raises(PresetError) as caught:
        load_preset(folder)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message
    assert str(folder) in message and BAD_FOLDERS[case][1] in message, message


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_a_hostile_folder_is_skipped_by_the_library(saved, case):
    good = saved("Good One")
    folder = saved()
    spoil(folder, case)
    lib = Library(good.parent, factory_dir=None)
    assert [p.name for p in lib.list()] == ["Good One"]
    problems = lib.problems()
    assert len(problems) == 1 and str(folder) in problems[0] and "\n" not in problems[0], problems
    assert lib.get("Good One").id == good.name
    with pytest.raises(PresetError, match="no preset named 'Bad One'.*1 preset folder could not be read"):
        lib.get("Bad One")


def test_valid_presets_still_load_as_before(saved):
    """The factory presets and a preset with every optional part keep loading unchanged."""
    lib = Library(saved().parent)
    names = [p.name for p in lib.list()]
    assert lib.problems() == [] and len(names) == 7 and "Stone Church" in names and "Bad One" in names
    p = lib.get("Bad One")
    assert p.thumbnail_png == _real_png() and p.embeddings["scene"].dtype == np.float32
    assert p.profile.texture is not None and p.ambience.dtype == np.float32


def test_a_copied_folder_is_skipped_with_one_line(saved):
    """cp -r of a preset folder: the copy is skipped with a line (it has the same id)."""
    import shutil

    folder = saved()
    shutil.copytree(folder, folder.with_name("zz-copy"))
    lib = Library(folder.parent, factory_dir=None)
    assert [p.name for p in lib.list()] == ["Bad One"]
    assert len(lib.problems()) == 1 and "zz-copy" in lib.problems()[0] and "same id" in lib.problems()[0]
    lib.delete("Bad One")  # deletes the folder it was read from, never the copy's
    assert not folder.exists()


def test_delete_and_rename_use_the_folder_the_preset_was_read_from(saved):
    folder = saved()
    moved = folder.rename(folder.with_name("renamed-by-hand"))
    lib = Library(moved.parent, factory_dir=None)
    lib.rename("Bad One", "Other")
    assert Library(moved.parent, factory_dir=None).get("Other") and moved.is_dir()
    lib.delete("Other")
    assert not moved.exists() and not list(moved.parent.iterdir())


@pytest.mark.parametrize("edit", ["one-frame ambience", "1 Hz reference", "3e38 embedding", "20000 px thumbnail"])
def test_a_preset_that_would_not_load_is_never_written(tmp_path, make_preset, edit):
    """Analysis, blend and import all store through Library.add: the same checks run before writing."""
    p = make_preset("Never")
    if edit == "one-frame ambience":
        p.ambience = p.ambience[:1]
    elif edit == "1 Hz reference":
        p.reference_rate_hz = 1
    elif edit == "3e38 embedding":
        p.embeddings = {"condition_tokens": np.full((4, 8), 3e38, np.float32)}
    else:
        p.thumbnail_png = png(20000, 20000, rows=b"")
    lib = Library(tmp_path / "lib", factory_dir=None)
    with pytest.raises(PresetError):
        lib.add(p)
    assert not (tmp_path / "lib").exists() or not list((tmp_path / "lib").iterdir())


# ---------------------------------------------------------------- through the CLI


CLI_CASES = ["drr-db-list", "rt60-scalar", "deeply-nested-json", "band-zero", "ambience-655khz-110s",
             "png-20000-squared", "embedding-1e300-float64"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_preset_list_warns_once_and_lists_the_rest(tmp_path, cli, lib, saved, case):
    folder = saved()
    spoil(folder, case)
    r = cli("preset", "list", "--library", lib)
    assert r.code == 0, r.err
    assert "Test Room" in r.out and "Stone Church" in r.out and "Bad One" not in r.out
    warnings = [line for line in r.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(folder) in warnings[0] and BAD_FOLDERS[case][1] in warnings[0], r.err


def test_restyle_with_stone_church_renders_beside_malformed_presets(tmp_path, cli, lib, saved):
    for case in ("drr-db-list", "rt60-scalar", "deeply-nested-json"):
        spoil(saved(f"Bad {case}"), case)
    write_tone(tmp_path / "in.wav", 0.3)
    r = cli("restyle", "--quiet", "--preset", "Stone Church", tmp_path / "in.wav", "-o", tmp_path / "out")
    assert r.code == 0, r.err
    assert (tmp_path / "out" / "in.wav").is_file()


def test_an_unreadable_preset_is_one_warning(tmp_path, lib, saved):
    folder = saved()
    os.chmod(folder / "preset.json", 0o000)
    try:
        r = run_unprivileged(["preset", "list", "--library", str(lib)], lib)
    finally:
        os.chmod(folder / "preset.json", 0o644)
    assert "Traceback" not in r.err and r.code == 0, r.err
    warnings = [line for line in r.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(folder) in warnings[0] and "ermission" in warnings[0], r.err
    assert "Test Room" in r.out
