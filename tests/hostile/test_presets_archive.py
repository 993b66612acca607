"""Hostile .rtpreset files: members checked from the archive's directory before anything is extracted, every
problem one line naming the .rtpreset (never a temp folder), never a traceback (issue 19)."""

from __future__ import annotations

import re
import struct
import time
import zipfile
from pathlib import Path

import pytest

from engine.errors import PresetError
from presets import Library
from tests.hostile.test_presets import BAD_FOLDERS, saved, spoil  # noqa: F401 (saved is a fixture)

NOT_IN_AN_ARCHIVE = {"png-folder"}  # a folder member is simply not packed: the preset is then valid


def pack(folder: Path, path: Path, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for f in sorted(folder.iterdir()):
            if f.is_file():
                zf.write(f, f.name)
    return path


def patch_headers(path: Path, local_offset: int, central_offset: int, fmt: str, value: int, only: str | None = None):
    """Overwrite one field of each member's local and central header (the zip format's fixed offsets)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        infos, pos = zf.infolist(), zf.start_dir
    for info in infos:
        n, m, k = struct.unpack("<HHH", data[pos + 28: pos + 34])
        if only is None or info.filename == only:
            struct.pack_into(fmt, data, info.header_offset + local_offset, value)
            struct.pack_into(fmt, data, pos + central_offset, value)
        pos += 46 + n + m + k
    path.write_bytes(bytes(data))
    return path


def import_error(lib_dir: Path, archive: Path) -> str:
    with pytest.raises(PresetError) as caught:
        Library(lib_dir, factory_dir=None).import_(archive)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 500, message
    assert message.startswith(f"{archive}: "), message
    assert not re.search(r"tmp[a-z0-9_]{8}\b", message.removeprefix(str(archive))), message  # no temp folder
    return message


@pytest.mark.parametrize("case", sorted(set(BAD_FOLDERS) - NOT_IN_AN_ARCHIVE))
def test_a_hostile_preset_imported_is_one_line_naming_the_file(tmp_path, saved, case):
    folder = saved(root=tmp_path / "src")
    spoil(folder, case)
    archive = pack(folder, tmp_path / "bad.rtpreset")
    message = import_error(tmp_path / "other-lib", archive)
    assert BAD_FOLDERS[case][1] in message, message
    assert not (tmp_path / "other-lib").exists() or not any((tmp_path / "other-lib").iterdir())


def _good(tmp_path, saved, method=zipfile.ZIP_DEFLATED) -> Path:
    return pack(saved(root=tmp_path / "src"), tmp_path / "in.rtpreset", method)


def _duplicates(n: int):
    def make(tmp_path, saved) -> Path:
        archive = _good(tmp_path, saved)
        with zipfile.ZipFile(archive, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
            for _ in range(n):
                zf.writestr("preset.json", "{}")
        return archive

    return make


def _encrypted(tmp_path, saved):
    return patch_headers(_good(tmp_path, saved, zipfile.ZIP_STORED), 6, 8, "<H", 0x1)


def _method(code: int):
    def make(tmp_path, saved):
        return patch_headers(_good(tmp_path, saved, zipfile.ZIP_STORED), 8, 10, "<H", code)

    return make


def _lzma(tmp_path, saved):
    return _good(tmp_path, saved, zipfile.ZIP_LZMA)


def _declared_too_large(tmp_path, saved):
    archive = tmp_path / "in.rtpreset"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("preset.json", " " * (3 << 20))
    return archive


def _size_lies(tmp_path, saved):
    """A zip bomb's trick: the directory says 1000 bytes, the deflate stream inflates to 30 MB."""
    archive = tmp_path / "in.rtpreset"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ambience.flac", b"\0" * (30 << 20))
    return patch_headers(archive, 22, 24, "<I", 1000)


def _corrupt_stream(tmp_path, saved):
    archive = _good(tmp_path, saved)
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("ambience.flac")
    start = info.header_offset + 30 + len(info.filename) + 100
    data[start: start + 64] = b"\xff" * 64
    archive.write_bytes(bytes(data))
    return archive


def _without(member: str):
    def make(tmp_path, saved):
        folder = saved(root=tmp_path / "src")
        (folder / member).unlink()
        return pack(folder, tmp_path / "in.rtpreset")

    return make


def _member_named(name: str):
    def make(tmp_path, saved):
        archive = _good(tmp_path, saved)
        with zipfile.ZipFile(archive, "a") as zf:
            zf.writestr(name, "x")
        return archive

    return make


def _truncated(tmp_path, saved):
    archive = _good(tmp_path, saved)
    archive.write_bytes(archive.read_bytes()[:-5000])
    return archive


def _bytes(data: bytes):
    def make(tmp_path, saved):
        (tmp_path / "in.rtpreset").write_bytes(data)
        return tmp_path / "in.rtpreset"

    return make


BAD_ARCHIVES = {
    "20000-duplicates": (_duplicates(20_000), "preset.json more than once"),
    "preset-json-twice": (_duplicates(1), "preset.json more than once"),
    "encrypted": (_encrypted, "encrypted"),
    "compression-method-99": (_method(99), "compression method 99"),
    "compression-lzma": (_lzma, "compression method 14"),
    "declared-3MB-preset-json": (_declared_too_large, "preset.json is absurdly large"),
    "size-field-lies": (_size_lies, "damaged"),
    "corrupt-deflate-stream": (_corrupt_stream, "damaged"),
    "no-ambience": (_without("ambience.flac"), "ambience.flac is missing"),
    "no-preset-json": (_without("preset.json"), "preset.json is missing"),
    "member-parent-dir": (_member_named("../preset.json"), "unexpected member"),
    "member-absolute": (_member_named("/etc/preset.json"), "unexpected member"),
    "member-in-folder": (_member_named("x/thumbnail.png"), "unexpected member"),
    "truncated-archive": (_truncated, "not a Roomtone preset file"),
    "empty-file": (_bytes(b""), "not a Roomtone preset file"),
    "text-file": (_bytes(b"hello"), "not a Roomtone preset file"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_a_hostile_archive_is_refused_before_extraction(tmp_path, saved, case):
    make, expected = BAD_ARCHIVES[case]
    archive = make(tmp_path, saved)
    started = time.monotonic()
    message = import_error(tmp_path / "other-lib", archive)
    assert expected in message, message
    assert time.monotonic() - started < 5.0  # 20 000 duplicates took 37 s to extract one over another


def test_import_of_a_folder_or_nothing_names_it(tmp_path):
    for path in (tmp_path, tmp_path / "nope.rtpreset"):
        assert "no such preset file" in import_error(tmp_path / "lib", path)


@pytest.mark.parametrize("case", ["encrypted", "compression-method-99", "no-ambience", "20000-duplicates"])
def test_cli_preset_import_is_one_error_line(tmp_path, cli, saved, case):
    archive = BAD_ARCHIVES[case][0](tmp_path, saved)
    r = cli("preset", "import", archive)
    assert r.code == 1
    assert len(r.errors) == 1 and r.errors[0].startswith(f"error: {archive}: "), r.err
    assert BAD_ARCHIVES[case][1] in r.errors[0] and "tmp" not in r.errors[0].removeprefix(f"error: {archive}")


@pytest.mark.parametrize("case", ["drr-db-list", "deeply-nested-json", "embedding-1e300-float64", "png-20000-squared"])
def test_cli_import_of_a_hostile_preset_is_one_error_line(tmp_path, cli, saved, case):
    folder = saved(root=tmp_path / "src")
    spoil(folder, case)
    archive = pack(folder, tmp_path / "bad.rtpreset")
    r = cli("preset", "import", archive)
    assert r.code == 1 and len(r.errors) == 1 and r.errors[0].startswith(f"error: {archive}: "), r.err
    r = cli("preset", "list")
    assert r.code == 0 and "Test Room" in r.out and "Bad One" not in r.out and not r.err, r.err
