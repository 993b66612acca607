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
    err = capsys.readouterr().err
    assert "--trim-db" in err and "500" in err and len(err.splitlines()) == 1


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


# ---------------------------------------------------------------- issue 17: global options (one parser rule)


@pytest.fixture
def other_lib(tmp_path, make_preset):
    """A second library, named only on the command line: the options must reach the command."""
    Library(tmp_path / "other", factory_dir=None).add(make_preset("Only Here"))
    return tmp_path / "other"


@pytest.mark.parametrize("where", ["before", "between", "after"])
def test_library_works_before_or_after_the_command(lib, other_lib, capsys, where):
    argv = {"before": ["--library", str(other_lib), "preset", "list"],
            "between": ["preset", "--library", str(other_lib), "list"],
            "after": ["preset", "list", "--library", str(other_lib)]}[where]
    assert main(argv) == Exit.OK
    out = capsys.readouterr().out
    assert "Only Here" in out and "Test Room" not in out


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_works_before_or_after_the_command(tmp_path, lib, capsys, where):
    write_tone(tmp_path / "in.wav", 0.3)
    rest = ["--preset", "Test Room", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out")]
    argv = ["--quiet", "restyle", *rest] if where == "before" else ["restyle", *rest, "--quiet"]
    assert main(argv) == Exit.OK
    assert "%|" not in capsys.readouterr().err  # no progress bar drawn


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_works_before_or_after_the_command(lib, where):
    from engine.errors import PresetError

    argv = ["--debug", "preset", "show", "Nope"] if where == "before" else ["preset", "show", "Nope", "--debug"]
    with pytest.raises(PresetError):
        main(argv)


def test_an_option_after_the_command_does_not_undo_one_before(lib, other_lib, capsys):
    assert main(["--library", str(other_lib), "preset", "list", "--quiet"]) == Exit.OK
    assert "Only Here" in capsys.readouterr().out


# ---------------------------------------------------------------- issue 17: fail fast


def test_preset_create_with_a_taken_name_refuses_before_analysing(tmp_path, lib, capsys):
    import time

    write_tone(tmp_path / "ref.wav", 8.0)
    began = time.monotonic()
    assert main(["preset", "create", "test room", "--from", str(tmp_path / "ref.wav"), "--quiet"]) == Exit.FAILED
    assert time.monotonic() - began < 2.0  # analysis takes ~10 s
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'Test Room' already exists" in err[0] and "preset delete" in err[0]


def test_preset_blend_with_a_taken_name_refuses(lib, capsys):
    assert main(["preset", "blend", "Test Room", "--from", "Test Room", "Test Room"]) == Exit.FAILED
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("argv, names", [
    (["--duration", "0"], ["--duration", "0"]),
    (["--duration", "-3"], ["--duration", "-3"]),
    (["--start", "-1"], ["--start", "-1"]),
    (["--duration", "nan"], ["--duration", "nan"]),
    (["--tail", "-1"], ["--tail", "-1"]),
    (["--tail", "600"], ["--tail", "600"]),
    (["--seed", "-1"], ["--seed", "-1"]),
    (["--eq-amount", "3"], ["--eq-amount", "3"]),
    (["--wet-db", "inf"], ["--wet-db", "inf"]),
    (["--steps", "0"], ["--steps", "0"]),
])
def test_bad_preview_values_are_one_line_naming_option_and_value(tmp_path, lib, capsys, argv, names):
    write_tone(tmp_path / "in.wav", 2.0)
    code = main(["preview", "--preset", "Test Room", str(tmp_path / "in.wav"), "-o", str(tmp_path / "p.wav"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == Exit.USAGE and len(err) == 1, err
    assert all(n in err[0] for n in names) and ("from" in err[0] or "more than" in err[0] or "or more" in err[0])
    assert not (tmp_path / "p.wav").exists()


@pytest.mark.parametrize("argv, option", [
    (["preset", "ir", "Test Room", "ir.wav", "--rate", "0"], "--rate"),
    (["preset", "ir", "Test Room", "ir.wav", "--channels", "0"], "--channels"),
    (["preset", "blend", "Mid", "--from", "Test Room", "Test Room", "--weight", "1.5"], "--weight"),
    (["restyle", "--preset", "Test Room", "x.wav", "-o", "out", "--batch-windows", "-2"], "--batch-windows"),
    (["preset", "create", "New", "--from", "ref.wav", "--frame", "-1"], "--frame"),
])
def test_bad_values_of_other_commands_are_one_line(tmp_path, lib, capsys, monkeypatch, argv, option):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == Exit.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and err[0].startswith("error:")


def test_preview_start_past_the_end_is_refused(tmp_path, lib, capsys):
    write_tone(tmp_path / "in.wav", 3.0)
    code = main(["preview", "--preset", "Test Room", str(tmp_path / "in.wav"), "--start", "100",
                 "-o", str(tmp_path / "p.wav")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == Exit.FAILED and len(err) == 1
    assert "100 s" in err[0] and "3.00 s long" in err[0] and "choose a start before" in err[0]
    assert not (tmp_path / "p.wav").exists()


def test_preview_start_is_honoured_and_the_excerpt_ends_with_the_file(tmp_path, lib):
    write_tone(tmp_path / "in.wav", 3.0)
    assert main(["preview", "--quiet", "--preset", "Test Room", str(tmp_path / "in.wav"), "--start", "2",
                 "-o", str(tmp_path / "p.wav")]) == Exit.OK
    assert sf.info(str(tmp_path / "p.wav")).frames == 48000  # 2 s .. 3 s, not shifted back to 0 .. 3 s


def test_unknown_preset_is_refused_before_anything_is_written(tmp_path, lib, capsys):
    write_tone(tmp_path / "in.wav", 0.3)
    assert main(["restyle", "--quiet", "--preset", "Nope", str(tmp_path / "in.wav"), "-o", str(tmp_path / "o")]) \
        == Exit.FAILED
    assert "no preset named 'Nope'" in capsys.readouterr().err and not (tmp_path / "o").exists()


# ---------------------------------------------------------------- issue 17: messages


def _own_parsers():
    """roomtone's own command parsers (train and eval have their own modules)."""
    from engine.cli import _each_parser, build_parser

    for p in _each_parser(build_parser()):
        words = p.prog.split()
        if len(words) < 2 or words[1] not in ("train", "eval"):
            yield p


def test_every_option_has_help_and_says_its_default():
    import argparse

    from engine.cli import _HelpFormatter

    missing, no_default = [], []
    for p in _own_parsers():
        fmt = _HelpFormatter(p.prog)
        for a in p._actions:
            if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = f"{p.prog} {'/'.join(a.option_strings) or a.dest}"
            if not a.help or a.help == argparse.SUPPRESS:
                missing.append(name)
            elif a.option_strings and not a.required and not isinstance(a.default, bool) and a.nargs != 0:
                if "default" not in fmt._get_help_string(a):
                    no_default.append(name)
    assert not missing, missing
    assert not no_default, no_default


def test_help_shows_defaults(capsys):
    assert main(["preview", "--help"]) == Exit.OK
    out = capsys.readouterr().out
    assert "(default: 10.0)" in out and "(default: 0.0)" in out and "INPUT" in out and "the dialogue file" in out


def test_preset_list_has_a_header_and_says_what_the_ambience_is_relative_to(lib, capsys):
    from engine.describe import preset_summary

    assert main(["preset", "list"]) == Exit.OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "ID", "KIND"] and "re speech loudness" in lines[0]
    preset = Library(lib).get("Test Room")
    row = next(line for line in lines if line.startswith("Test Room"))
    assert row.endswith(preset_summary(preset)) and "dB re speech loudness" in row


def test_create_and_blend_name_presets_alike_and_the_old_blend_spelling_works(lib, capsys):
    assert main(["preset", "blend", "Mid", "--from", "Test Room", "Test Room", "--weight", "0.25"]) == Exit.OK
    assert main(["preset", "blend", "Test Room", "Mid", "--name", "Old Way"]) == Exit.OK
    names = {p.name for p in Library(lib).list()}
    assert {"Mid", "Old Way"} <= names
    assert main(["preset", "blend", "Lonely"]) == Exit.USAGE
    assert "preset blend NAME --from A B" in capsys.readouterr().err


def _visible_lines(stream_text: str) -> list[str]:
    """What a terminal shows per line: a carriage return starts the line over."""
    return [line.split("\r")[-1] for line in stream_text.split("\n")]


def test_log_lines_never_share_a_line_with_the_progress_bar(capsys):
    import argparse
    import logging
    import sys

    from engine import ProgressEvent
    from engine.cli import _Progress

    with _Progress(argparse.Namespace(quiet=False), "restyling") as bar:
        bar.event(ProgressEvent("file-progress", fraction=0.4, path="a.wav"))
        logging.getLogger("roomtone.runtime").warning("exporting checkpoint abc to ONNX")
        print("a library's own print", file=sys.stderr)
        print("on stdout too")
        bar.event(ProgressEvent("file-progress", fraction=0.6, path="a.wav"))
    captured = capsys.readouterr()
    shown = _visible_lines(captured.err) + _visible_lines(captured.out)
    for text in ("a library's own print", "on stdout too", "exporting checkpoint abc to ONNX"):
        hits = [line for line in shown if text in line]
        assert hits and all("%|" not in line for line in hits), (text, hits)
    assert "warning: exporting checkpoint abc to ONNX" in shown


def test_a_cancelled_restyle_says_cancelled_with_counts(tmp_path, lib, capsys):
    import os
    import signal
    import threading
    import time

    for name in ("a", "b", "c"):
        write_tone(tmp_path / "in" / f"{name}.wav", 4.0)
    out = tmp_path / "out"

    def interrupt_after_the_first_file() -> None:
        deadline = time.monotonic() + 120
        while not (out / "a.wav").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    watcher = threading.Thread(target=interrupt_after_the_first_file, daemon=True)
    watcher.start()
    code = main(["restyle", "--quiet", "--preset", "Test Room", str(tmp_path / "in"), "-o", str(out)])
    watcher.join()
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == Exit.CANCELLED
    assert summary.startswith("cancelled: 1 rendered, 0 skipped, 0 failed, 2 not rendered"), summary
    assert not (out / "c.wav").exists()


# ---------------------------------------------------------------- issue 17: --tail, issue 19: clipping


def test_restyle_tail_makes_outputs_longer_by_exactly_the_tail(tmp_path, lib):
    write_tone(tmp_path / "in" / "a.wav", 1.0, rate=44100)
    assert main(["restyle", "--quiet", "--preset", "Test Room", "--stems", "--tail", "1.3",
                 str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == Exit.OK
    want = 44100 + round(1.3 * 44100)
    for name in ("a.wav", "a.dialogue.wav", "a.reverb.wav", "a.ambience.wav"):
        assert sf.info(str(tmp_path / "out" / name)).frames == want, name
    entry = next(iter(json.loads((tmp_path / "out" / "roomtone-manifest.json").read_text())["files"].values()))
    assert entry["settings"]["tail_s"] == 1.3


def test_preview_tail(tmp_path, lib, capsys):
    write_tone(tmp_path / "in.wav", 6.0)
    assert main(["preview", "--quiet", "--preset", "Test Room", str(tmp_path / "in.wav"), "--duration", "2",
                 "--tail", "0.5", "-o", str(tmp_path / "p.wav")]) == Exit.OK
    assert sf.info(str(tmp_path / "p.wav")).frames == 2 * 48000 + 24000
    assert "2.0 s + 0.5 s tail preview" in capsys.readouterr().out


def test_a_clipping_render_says_so_in_one_warning_line(tmp_path, lib, capsys):
    t = np.arange(48000) / 48000
    loud = (0.99 * np.sign(np.sin(2 * np.pi * 150 * t)))[:, None].astype(np.float32)  # full-scale square wave
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "hot.wav", loud, 48000, subtype="PCM_24")
    assert main(["restyle", "--quiet", "--preset", "Test Room", "--wet-db", "12", str(tmp_path / "in"),
                 "-o", str(tmp_path / "out")]) == Exit.OK
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, warnings
    assert "hot.wav" in warnings[0] and "dBFS" in warnings[0] and "clipped" in warnings[0]
    assert "--wet-db" in warnings[0] and "--trim-db" in warnings[0]
    assert main(["preview", "--quiet", "--preset", "Test Room", "--wet-db", "12", str(tmp_path / "in" / "hot.wav"),
                 "-o", str(tmp_path / "p.wav")]) == Exit.OK
    assert any(line.startswith("warning:") and "p.wav" in line and "dBFS" in line
               for line in capsys.readouterr().err.splitlines())


def test_render_options_take_their_choices_and_defaults_from_settings():
    """One vocabulary: the CLI restates no option list or default of engine.settings."""
    from engine import settings as vocab
    from engine.cli import build_parser
    from engine.settings import Settings

    args = build_parser().parse_args(["restyle", "in.wav", "-o", "out", "--preset", "p"])
    fields = {"engine": "engine", "trim_db": "trim_db", "wet_db": "wet_db", "eq_amount": "eq_amount",
              "seed": "seed", "tail": "tail_s", "steps": "steps", "guidance": "guidance", "sampler": "sampler",
              "device": "device", "backend": "backend", "precision": "precision"}
    for option, field in fields.items():
        assert getattr(args, option) == getattr(Settings(), field), option
    restyle = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices and "restyle" in a.choices)
    choices = {a.dest: tuple(a.choices) for a in restyle.choices["restyle"]._actions if a.choices}
    assert choices == {"engine": vocab.ENGINES, "sampler": vocab.SAMPLERS, "device": vocab.DEVICES,
                       "backend": vocab.BACKENDS, "precision": vocab.PRECISIONS}
    trt = restyle.choices["build-trt"]
    assert tuple(next(a for a in trt._actions if a.dest == "precision").choices) == vocab.TRT_PRECISIONS
