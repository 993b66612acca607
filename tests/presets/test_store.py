import json

import numpy as np
import pytest

from engine.errors import PresetError
from presets import Library, load_preset, save_preset
from presets.library import default_library_dir
from presets.store import sanitise_name


def test_round_trip_keeps_everything(tmp_path, make_preset):
    p = make_preset()
    p.embeddings = {"audio": np.arange(12, dtype=np.float32).reshape(3, 4)}
    p.embeddings_checkpoint = "ckpt-1"
    p.thumbnail_png = _png(32, 18)
    save_preset(p, tmp_path / p.id)
    q = load_preset(tmp_path / p.id)
    assert q.name == p.name and q.id == p.id and q.profile == p.profile
    assert q.ambience.shape == p.ambience.shape and np.allclose(q.ambience, p.ambience, atol=1e-6)
    assert np.array_equal(q.embeddings["audio"], p.embeddings["audio"])
    assert q.thumbnail_png == p.thumbnail_png and q.embeddings_checkpoint == "ckpt-1"
    assert not any(f.suffix == ".pkl" for f in (tmp_path / p.id).iterdir())


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 60, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _saved(tmp_path, make_preset):
    p = make_preset()
    folder = tmp_path / p.id
    save_preset(p, folder)
    return folder, json.loads((folder / "preset.json").read_text())


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.update(schema_version=99), "schema version 99"),
        (lambda m: m.pop("profile"), "missing field"),
        (lambda m: m["profile"].pop("drr_db"), "drr_db"),
        (lambda m: m["profile"].update(rt60_s=[1.0] * 3), "rt60_s has 3 values"),
        (lambda m: m["profile"].update(rt60_s=[1e6] * 7), "outside"),
        (lambda m: m["profile"].update(drr_db="loud"), "must be a number"),
        (lambda m: m.update(id="../../etc"), "id must be"),
        (lambda m: m["profile"].update(eq_gain_db=list(range(10_000))), "eq_gain_db has"),
    ],
)
def test_rejects_bad_json(tmp_path, make_preset, edit, message):
    folder, meta = _saved(tmp_path, make_preset)
    edit(meta)
    (folder / "preset.json").write_text(json.dumps(meta))
    with pytest.raises(PresetError, match=message):
        load_preset(folder)


def test_rejects_non_finite_and_garbage(tmp_path, make_preset):
    folder, meta = _saved(tmp_path, make_preset)
    text = json.dumps(meta).replace(str(meta["profile"]["drr_db"]), "NaN", 1)
    (folder / "preset.json").write_text(text)
    with pytest.raises(PresetError, match="non-finite"):
        load_preset(folder)
    (folder / "preset.json").write_text("{not json")
    with pytest.raises(PresetError, match="not valid JSON"):
        load_preset(folder)
    (folder / "preset.json").write_text(" " * (2 << 20))
    with pytest.raises(PresetError, match="absurdly large"):
        load_preset(folder)


def test_rejects_bad_audio(tmp_path, make_preset):
    folder, _ = _saved(tmp_path, make_preset)
    (folder / "ambience.flac").write_bytes(b"not audio at all")
    with pytest.raises(PresetError, match="ambience.flac"):
        load_preset(folder)
    (folder / "ambience.flac").unlink()
    with pytest.raises(PresetError, match="missing"):
        load_preset(folder)


@pytest.mark.parametrize("bad", ["", "   ", "..", "/", "\x00\x01"])
def test_unusable_names(bad):
    with pytest.raises(PresetError):
        sanitise_name(bad)


def test_names_cannot_traverse():
    assert sanitise_name("../../etc/passwd") == "etc-passwd"
    assert "/" not in sanitise_name("a/b\\c") and sanitise_name("  Church   Hall ") == "Church Hall"


def test_library_lifecycle(tmp_path, make_preset):
    lib = Library(tmp_path / "lib", factory_dir=None)
    a = lib.add(make_preset("Hall"))
    b = lib.add(make_preset("Street", rt60_s=0.3, ambience_to_speech_db=-10.0))
    assert {p.name for p in lib.list()} == {"Hall", "Street"}
    assert lib.get("hall").id == a.id and lib.get(b.id).name == "Street"
    with pytest.raises(PresetError, match="already exists"):
        lib.add(make_preset("hall"))
    lib.rename("Hall", "Big Hall")
    assert lib.get("Big Hall").id == a.id
    dup = lib.duplicate("Big Hall")
    assert dup.name == "Big Hall copy" and dup.id != a.id
    exported = lib.export("Street", tmp_path / "street")
    assert exported.name == "street.rtpreset" and exported.is_file()
    imported = lib.import_(exported)
    assert imported.name == "Street 2" and imported.profile == lib.get("Street").profile
    mid = lib.blend("Big Hall", "Street", 0.5, "Between")
    rt_a, rt_b = lib.get("Big Hall").profile.rt60_s[3], lib.get("Street").profile.rt60_s[3]
    assert min(rt_a, rt_b) < mid.profile.rt60_s[3] < max(rt_a, rt_b)
    assert abs(mid.profile.ambience_to_speech_db - (-15.0)) < 1e-6
    lib.delete("Between")
    with pytest.raises(PresetError, match="no preset named"):
        lib.get("Between")
    assert not list((tmp_path / "lib").glob(".*"))  # no temp folders left behind


def test_factory_presets_are_read_only(tmp_path, make_preset):
    factory = tmp_path / "factory"
    p = make_preset("Shipped")
    save_preset(p, factory / "shipped")
    lib = Library(tmp_path / "user", factory_dir=factory)
    assert lib.get("Shipped").factory
    for op in (lambda: lib.delete("Shipped"), lambda: lib.rename("Shipped", "X")):
        with pytest.raises(PresetError, match="read-only"):
            op()
    assert lib.duplicate("Shipped", "Mine").factory is False


def test_import_rejects_foreign_zip(tmp_path):
    import zipfile

    bad = tmp_path / "evil.rtpreset"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../../escape.txt", "x")
    with pytest.raises(PresetError, match="unexpected member"):
        Library(tmp_path / "lib", factory_dir=None).import_(bad)
    (tmp_path / "junk.rtpreset").write_text("hello")
    with pytest.raises(PresetError, match="not a Roomtone preset"):
        Library(tmp_path / "lib", factory_dir=None).import_(tmp_path / "junk.rtpreset")


def test_library_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOMTONE_LIBRARY", str(tmp_path / "x"))
    assert default_library_dir() == tmp_path / "x"
    monkeypatch.delenv("ROOMTONE_LIBRARY")
    assert "roomtone" in str(default_library_dir())


def test_from_analysis_takes_profile_and_excerpts_at_the_excerpt_rate():
    from types import SimpleNamespace

    from presets.store import ScenePreset
    from tests.conftest import hand_profile

    amb, ref = np.zeros((4800, 2), np.float32), np.ones((4800, 1), np.float32)
    analysis = SimpleNamespace(profile=hand_profile(), ambience_excerpt=amb, reference_excerpt=ref,
                               excerpt_sample_rate_hz=24000)
    p = ScenePreset.from_analysis("x", analysis, source={"kind": "audio"})
    assert (p.name, p.ambience_rate_hz, p.reference_rate_hz, p.source) == ("x", 24000, 24000, {"kind": "audio"})
    assert p.ambience is amb and p.reference is ref and p.profile is analysis.profile


def test_blend_keeps_clarity_only_where_both_presets_have_it():
    """A blend halfway between two rooms is halfway in C50 too (dB); a preset made before clarity
    was estimated renders the plain exponential tail, which no number stands for, so none is kept."""
    from dataclasses import replace

    from presets.store import profile_blend
    from tests.conftest import hand_profile

    a, b = replace(hand_profile(), c50_db=10.0), replace(hand_profile(rt60_s=2.0), c50_db=0.0)
    assert profile_blend(a, b, 0.25).c50_db == pytest.approx(7.5)
    assert profile_blend(a, replace(b, c50_db=None), 0.25).c50_db is None
