"""A re-render owns its output set; cancelled runs say so; tails; clipping (issues 17 and 19)."""

import json
import struct

import numpy as np
import pytest
import soundfile as sf

from engine import CancelToken, Settings
from engine.batch import MANIFEST_NAME, BatchRunner
from engine.restyle import TAIL_FADE_MAX_S, restyle
from tests.conftest import write_tone


def _manifest(out) -> dict:
    return json.loads((out / MANIFEST_NAME).read_text())


def test_rerender_without_stems_removes_the_earlier_stems(tmp_path, make_preset):
    src = write_tone(tmp_path / "in" / "a.wav", 0.6)
    out = tmp_path / "out"
    assert BatchRunner(make_preset(), Settings(stems=True), out).run([src]).ok
    assert (out / "a.dialogue.wav").is_file()
    report = BatchRunner(make_preset(), Settings(stems=False, wet_db=-6.0), out).run([src])
    assert report.ok and report.count("done") == 1
    assert sorted(p.name for p in out.glob("a*.wav")) == ["a.wav"]  # no stems that no longer sum to the mix
    (entry,) = _manifest(out)["files"].values()
    assert entry["outputs"] == {"mix": str(out / "a.wav")} and entry["settings"]["wet_db"] == -6.0


def test_stems_the_manifest_does_not_list_are_refused_then_removed_with_overwrite(tmp_path, make_preset):
    src = write_tone(tmp_path / "in" / "a.wav", 0.6)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.reverb.wav").write_bytes(b"someone else's")
    report = BatchRunner(make_preset(), Settings(), out).run([src])
    (failed,) = report.failures
    assert "a.reverb.wav" in failed.error and "--overwrite" in failed.error and "--stems" in failed.error
    assert (out / "a.reverb.wav").read_bytes() == b"someone else's" and not (out / "a.wav").exists()
    assert BatchRunner(make_preset(), Settings(), out, overwrite=True).run([src]).ok
    assert sorted(p.name for p in out.glob("a*.wav")) == ["a.wav"]


def test_a_rerun_with_stems_again_keeps_and_skips_the_complete_set(tmp_path, make_preset):
    src = write_tone(tmp_path / "in" / "a.wav", 0.4)
    out, preset = tmp_path / "out", make_preset()
    assert BatchRunner(preset, Settings(stems=True), out).run([src]).ok
    again = BatchRunner(preset, Settings(stems=True), out).run([src])
    assert again.count("skipped") == 1 and len(list(out.glob("a*.wav"))) == 4


def test_a_cancelled_batch_says_cancelled_with_counts_and_ends_where_it_stopped(tmp_path, make_preset):
    for name in ("a", "b", "c", "d"):
        write_tone(tmp_path / "in" / f"{name}.wav", 0.3)
    token = CancelToken()
    events = []

    def progress(e):
        events.append(e)
        if e.kind == "file-done":
            token.cancel()

    report = BatchRunner(make_preset(), Settings(), tmp_path / "out", progress=progress, cancel=token).run(
        [tmp_path / "in"])
    assert report.cancelled
    assert report.summary() == "cancelled: 1 rendered, 0 skipped, 0 failed, 3 not rendered"
    assert events[-1].kind == "done" and events[-1].message == report.summary()
    assert events[-1].fraction == pytest.approx(0.25)  # not a jump to 100 %


# ---------------------------------------------------------------- tail


TIME_REFERENCE = 48000 * 3600 + 12345  # 01:00:00:00 plus a few frames


def _bwf(path, samples: np.ndarray, rate: int) -> bytes:
    """A PCM_24 BWF whose bext carries a time reference (samples since midnight)."""
    bext = bytearray(602)
    bext[:9] = b"sc12 t03 "
    bext[338:346] = struct.pack("<Q", TIME_REFERENCE)
    ints = np.clip(np.round(samples * 2**23), -2**23, 2**23 - 1).astype("<i4")
    data = b"".join(int(v).to_bytes(4, "little", signed=True)[:3] for v in ints.reshape(-1))
    ch = samples.shape[1]
    fmt = struct.pack("<HHIIHH", 1, ch, rate, rate * ch * 3, ch * 3, 24)

    def chunk(cid, payload):
        return cid + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")

    body = chunk(b"fmt ", fmt) + chunk(b"bext", bytes(bext)) + chunk(b"data", data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    return bytes(bext)


@pytest.fixture
def bwf_line(tmp_path):
    t = np.arange(int(0.8 * 48000)) / 48000
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * (t < 0.6))[:, None].repeat(2, axis=1)
    bext = _bwf(tmp_path / "in" / "line.wav", x, 48000)
    return tmp_path / "in" / "line.wav", bext


def test_tail_lengthens_every_output_by_exactly_the_tail_and_keeps_the_start(tmp_path, make_preset, bwf_line):
    from engine.audio import read_chunks

    src, bext = bwf_line
    frames = sf.info(str(src)).frames
    plain, tailed = tmp_path / "plain", tmp_path / "tailed"
    assert BatchRunner(make_preset(), Settings(stems=True), plain).run([src]).ok
    assert BatchRunner(make_preset(), Settings(stems=True, tail_s=2.2), tailed).run([src]).ok
    tail = round(2.2 * 48000)
    outs = {s: sf.read(tailed / f"line{s}.wav", always_2d=True)[0] for s in ("", ".dialogue", ".reverb", ".ambience")}
    assert {len(v) for v in outs.values()} == {frames + tail}
    assert np.abs(outs[".dialogue"] + outs[".reverb"] + outs[".ambience"] - outs[""]).max() < 4 * 2.0**-23
    # the same first `frames` samples as without a tail: aligned on the input, same BWF time reference
    assert np.array_equal(outs[""][:frames], sf.read(plain / "line.wav", always_2d=True)[0])
    assert read_chunks(tailed / "line.wav")["bext"] == bext
    assert struct.unpack("<Q", read_chunks(tailed / "line.wav")["bext"][338:346])[0] == TIME_REFERENCE
    # the tail rings: reverb in it, ambience on, and the very end faded to silence
    ring = outs[".reverb"][frames : frames + 4800]
    assert np.sqrt(np.mean(ring**2)) > 1e-4
    fade = int(round(min(tail / 2, TAIL_FADE_MAX_S * 48000)))
    assert np.abs(outs[""][-1]).max() < 1e-6 and np.abs(outs[".ambience"][frames + tail - fade - 4800 : -fade]).max() > 0
    (entry,) = _manifest(tailed)["files"].values()
    assert entry["settings"]["tail_s"] == 2.2


def test_default_tail_keeps_the_sample_exact_length(tmp_path, make_preset):
    x = np.random.default_rng(0).standard_normal((12345, 1)).astype(np.float32) * 0.05
    assert len(restyle(x, 48000, make_preset(), Settings())) == 12345
    assert len(restyle(x, 44100, make_preset(), Settings(tail_s=0.5))) == 12345 + 22050


def test_a_different_tail_renders_again(tmp_path, make_preset):
    src = write_tone(tmp_path / "in" / "a.wav", 0.3)
    assert BatchRunner(make_preset(), Settings(), tmp_path / "out").run([src]).ok
    again = BatchRunner(make_preset(), Settings(tail_s=1.0), tmp_path / "out").run([src])
    assert again.count("done") == 1 and sf.info(str(tmp_path / "out" / "a.wav")).frames == 0.3 * 48000 + 48000


# ---------------------------------------------------------------- clipping (issue 19 item 6)


def test_a_clipping_file_is_one_warning_naming_the_file_and_peak(tmp_path, make_preset):
    t = np.arange(48000) / 48000
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "hot.wav", (0.99 * np.sign(np.sin(2 * np.pi * 150 * t)))[:, None], 48000,
             subtype="PCM_16")
    write_tone(tmp_path / "in" / "calm.wav", 0.5)
    events, preset = [], make_preset()
    report = BatchRunner(preset, Settings(wet_db=12.0), tmp_path / "out", progress=events.append).run(
        [tmp_path / "in"])
    assert report.ok
    warnings = [e for e in events if e.kind == "file-warning"]
    assert len(warnings) == 1 and "hot.wav" in warnings[0].message and "dBFS" in warnings[0].message
    hot = next(r for r in report.results if r.source.endswith("hot.wav"))
    assert hot.warning == warnings[0].message and "clipped" in hot.warning
    entries = {k.rsplit("/", 1)[-1]: e for k, e in _manifest(tmp_path / "out")["files"].items()}
    assert "warning" in entries["hot.wav"] and "warning" not in entries["calm.wav"]
    # the warning does not stop a resume from seeing the file as complete
    again = BatchRunner(preset, Settings(wet_db=12.0), tmp_path / "out").run([tmp_path / "in"])
    assert again.count("skipped") == 2


def test_an_input_named_like_a_stem_is_its_own_job_not_a_stale_stem(tmp_path, make_preset):
    write_tone(tmp_path / "in" / "a.wav", 0.3)
    write_tone(tmp_path / "in" / "a.reverb.wav", 0.3)
    out, preset = tmp_path / "out", make_preset()
    for _ in range(2):  # the second run sees the first one's a.reverb.wav
        report = BatchRunner(preset, Settings(seed=_), out).run([tmp_path / "in"])
        assert report.ok and report.count("done") == 2, [r.error for r in report.results]
    assert sorted(p.name for p in out.glob("*.wav")) == ["a.reverb.wav", "a.wav"]
