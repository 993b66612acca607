"""The CLI end to end, as a user runs it: real files, real presets, the installed entry point's main()."""

import json

import numpy as np
import pytest
import soundfile as sf

from engine.cli import Exit, main
from presets import Library
from tests.conftest import write_tone


@pytest.fixture
def lib(tmp_path, make_preset, monkeypatch):
    monkeypatch.setenv("ROOMTONE_LIBRARY", str(tmp_path / "lib"))
    Library(tmp_path / "lib", factory_dir=None).add(make_preset("Test Room"))
    return tmp_path / "lib"


def test_restyle_and_failures_exit_code(tmp_path, lib, capsys):
    write_tone(tmp_path / "in" / "good.wav", 0.5)
    (tmp_path / "in" / "bad.wav").write_text("nope")
    code = main(["restyle", "--quiet", "--preset", "Test Room", "--stems", "--trim-db", "-6",
                 str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == Exit.FAILED
    lines = [l for l in err.splitlines() if l.startswith("error:") and "bad.wav" in l]
    assert lines and all("good.wav" not in l for l in lines)
    assert (tmp_path / "out" / "good.wav").is_file() and (tmp_path / "out" / "good.ambience.wav").is_file()
    manifest = json.loads((tmp_path / "out" / "roomtone-manifest.json").read_text())
    done = [e for e in manifest["files"].values() if e["status"] == "done"]
    assert done[0]["settings"]["trim_db"] == -6.0 and done[0]["preset_name"] == "Test Room"


def test_restyle_is_deterministic_by_seed(tmp_path, lib):
    write_tone(tmp_path / "in.wav", 1.0)
    outs = []
    for seed, name in ((3, "a"), (3, "b"), (4, "c")):
        assert main(["restyle", "--quiet", "--preset", "Test Room", "--seed", str(seed),
                     str(tmp_path / "in.wav"), "-o", str(tmp_path / name)]) == Exit.OK
        outs.append(sf.read(tmp_path / name / "in.wav")[0])
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], outs[2])


def test_preset_commands(tmp_path, lib, capsys):
    assert main(["preset", "list"]) == Exit.OK
    assert "Test Room" in capsys.readouterr().out
    assert main(["preset", "duplicate", "Test Room", "Copy"]) == Exit.OK
    assert main(["preset", "rename", "Copy", "Other"]) == Exit.OK
    assert main(["preset", "blend", "Test Room", "Other", "--weight", "0.25", "--name", "Mid"]) == Exit.OK
    assert main(["preset", "export", "Mid", str(tmp_path / "mid")]) == Exit.OK
    assert main(["preset", "delete", "Mid"]) == Exit.OK
    assert main(["preset", "import", str(tmp_path / "mid.rtpreset")]) == Exit.OK
    assert main(["preset", "show", "Mid", "--json"]) == Exit.OK
    assert main(["preset", "ir", "Test Room", str(tmp_path / "ir.wav"), "--rate", "44100"]) == Exit.OK
    ir, rate = sf.read(tmp_path / "ir.wav")
    assert rate == 44100 and np.argmax(np.abs(ir)) < 10 and len(ir) > 0.5 * rate
    assert main(["preset", "show", "Nope"]) == Exit.FAILED
    assert "no preset named 'Nope'" in capsys.readouterr().err


def test_bad_settings_are_usage_errors(tmp_path, lib, capsys):
    write_tone(tmp_path / "in.wav", 0.2)
    assert main(["restyle", "--quiet", "--preset", "Test Room", "--trim-db", "500",
                 str(tmp_path / "in.wav"), "-o", str(tmp_path / "o")]) == Exit.USAGE
    assert "trim_db" in capsys.readouterr().err


def test_preview_writes_short_excerpt(tmp_path, lib):
    write_tone(tmp_path / "long.wav", 30.0, subtype="PCM_16")
    assert main(["preview", "--preset", "Test Room", str(tmp_path / "long.wav"), "--duration", "5",
                 "-o", str(tmp_path / "p.wav")]) == Exit.OK
    info = sf.info(str(tmp_path / "p.wav"))
    assert info.frames == 5 * 48000 and info.subtype == "PCM_16"


def test_preset_from_video_with_frame(tmp_path, lib, capsys):
    from engine.kit.rooms import RoomConfig
    from engine.kit.scene import SceneSpec, render_scene
    from presets import Library
    from tests.scene.test_media import write_video

    scene = render_scene(SceneSpec(RoomConfig(rt60_s=0.6), "real:river", 15.0, seed=99), 6.0, 48000)
    write_video(tmp_path / "location.mov", seconds=6.0, audio=scene.mix[:, 0])
    assert main(["preset", "create", "Location", "--from", str(tmp_path / "location.mov"), "--frame", "1.0",
                 "--quiet"]) == Exit.OK
    preset = Library(lib).get("Location")
    assert preset.source["kind"] == "video" and preset.source["frame_s"] == 1.0
    assert preset.thumbnail_png.startswith(b"\x89PNG")
