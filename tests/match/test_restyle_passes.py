"""The match engine's file restyle in one pass and in two (a measuring pass first, for lines too
long to hold): both synthesise the scene's speech path once and write the same audio."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import engine.match.renderer as match_renderer
import engine.restyle as restyle_module
from engine.restyle import SpeechLevel, restyle_file
from engine.settings import Settings
from tests.conftest import write_tone


@pytest.fixture
def counted_speech_path(monkeypatch):
    """The real speech_path, counting its calls (the costly IR and EQ synthesis)."""
    calls = []
    real = match_renderer.speech_path

    def counting(*args, **kwargs):
        calls.append(args[2:])
        return real(*args, **kwargs)

    monkeypatch.setattr(match_renderer, "speech_path", counting)
    return calls


def _render(tmp_path, name, preset, settings):
    src = write_tone(tmp_path / "line.wav", seconds=3.0, channels=2)
    outputs = {"mix": tmp_path / f"{name}.wav", "dialogue": tmp_path / f"{name}.dialogue.wav",
               "reverb": tmp_path / f"{name}.reverb.wav", "ambience": tmp_path / f"{name}.ambience.wav"}
    report = restyle_file(src, outputs, preset, settings, level=SpeechLevel(preset, settings))
    return report, {k: sf.read(p, dtype="float64", always_2d=True)[0] for k, p in outputs.items()}


def test_two_passes_synthesise_the_speech_path_once_and_match_one_pass(tmp_path, make_preset, monkeypatch,
                                                                        counted_speech_path):
    preset = make_preset(rt60_s=0.6)
    settings = Settings(stems=True, seed=4, tail_s=0.5)
    one_report, one = _render(tmp_path, "one", preset, settings)
    assert counted_speech_path == [(48000, 2)]

    counted_speech_path.clear()
    monkeypatch.setattr(restyle_module, "SINGLE_PASS_MAX_BYTES", 0)  # too long to hold: measure first
    assert not restyle_module.single_pass_fits(settings, 3 * 48000, 2)
    two_report, two = _render(tmp_path, "two", preset, settings)
    assert counted_speech_path == [(48000, 2)], "the render re-synthesised the measured speech path"

    assert two_report.frames == one_report.frames == 3 * 48000 + 24000
    for name in one:
        assert one[name].shape == two[name].shape
        assert np.any(one[name] != 0.0)
        # Same filters; the two passes' FFT sizes may differ, so within 24-bit rounding.
        np.testing.assert_allclose(two[name], one[name], atol=2 / 2**23, err_msg=name)
