"""The issue's 'done when', as a user does it: a reference clip of a known scene → `preset create`
→ `restyle` of dry dialogue by another talker → the output's measured reverb and ambience match
the scene's ground truth (from the synthetic scene kit)."""

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from engine.audio import integrated_loudness, write_audio
from engine.cli import Exit, main
from engine.kit.acoustics import band_rt60_s, drr_db
from engine.kit.rooms import RoomConfig
from engine.kit.scene import SceneSpec, render_scene
from engine.kit.speech import alsa_voice
from engine.scene.profile import OCTAVE_BANDS_HZ

RATE = 48000


def third_octave_db(x: np.ndarray, rate: int, centres: np.ndarray) -> np.ndarray:
    f, p = signal.welch(x, rate, nperseg=8192)
    return np.array([10 * np.log10(p[(f >= c / 2**(1 / 6)) & (f < c * 2**(1 / 6))].sum() + 1e-20) for c in centres])


def deconvolve(dry: np.ndarray, wet: np.ndarray, length: int) -> np.ndarray:
    """Regularised (Tikhonov) deconvolution: the response that maps dry onto wet."""
    n = 1 << int(np.ceil(np.log2(len(dry) + length)))
    X, Y = np.fft.rfft(dry, n), np.fft.rfft(wet, n)
    h = np.fft.irfft(Y * np.conj(X) / (np.abs(X) ** 2 + 1e-6 * np.mean(np.abs(X) ** 2)), n)[:length]
    return np.concatenate([np.zeros(int(0.05 * RATE)), h])  # lead-in so band filters see the onset


@pytest.fixture(scope="module")
def scene():
    spec = SceneSpec(RoomConfig(dims_m=(11.0, 8.0, 4.0), source_m=(3.5, 3.0, 1.6), mic_m=(5.0, 4.5, 1.7),
                                rt60_s=1.1), "real:rain", 15.0, seed=2024)
    return render_scene(spec, 25.0, RATE, speaker="en+f3")


def test_restyled_output_matches_reference_scene(tmp_path, scene, monkeypatch):
    monkeypatch.setenv("ROOMTONE_LIBRARY", str(tmp_path / "lib"))
    write_audio(tmp_path / "reference.flac", scene.mix, RATE, subtype="PCM_24")
    # A real male voice (another talker than the reference's), with room for the reverb tail to
    # die inside the file, since outputs are cut to the input's length.
    dry = np.concatenate([alsa_voice(RATE), np.zeros((3 * RATE, 1), np.float32)])
    write_audio(tmp_path / "dialogue" / "line.wav", dry, RATE, subtype="FLOAT")  # measurable to -140 dB

    assert main(["preset", "create", "Scene", "--from", str(tmp_path / "reference.flac"), "--quiet"]) == Exit.OK
    assert main(["restyle", "--quiet", "--preset", "Scene", "--stems", str(tmp_path / "dialogue"),
                 "-o", str(tmp_path / "out")]) == Exit.OK

    out = {s: sf.read(tmp_path / "out" / f"line.{s}.wav", dtype="float64")[0] for s in ("dialogue", "reverb", "ambience")}
    mix = sf.read(tmp_path / "out" / "line.wav", dtype="float64")[0]
    assert len(mix) == len(dry)
    speech = out["dialogue"] + out["reverb"]

    # Reverberation: the response the output applied to the dry line, measured per octave band.
    h = deconvolve(dry[:, 0].astype(np.float64), speech, int(2.5 * RATE))
    measured = band_rt60_s(h, RATE)
    truth = scene.rt60_band_s
    mid = [OCTAVE_BANDS_HZ.index(b) for b in (500.0, 1000.0, 2000.0, 4000.0)]
    err = np.abs(measured[mid] / truth[mid] - 1)
    assert np.all(err < 0.35), (measured.round(2), truth.round(2))
    assert abs(drr_db(h, RATE) - scene.drr_db) < 8.0, (drr_db(h, RATE), scene.drr_db)

    # Ambience: spectral shape and level relative to the speech, against the scene's truth.
    centres = np.array([c for c in (125, 160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500,
                                    3150, 4000, 5000, 6300, 8000, 10000)], float)
    got = third_octave_db(out["ambience"], RATE, centres)
    want = third_octave_db(scene.ambience[:, 0].astype(np.float64), RATE, centres)
    shape_err = np.abs((got - got.mean()) - (want - want.mean()))
    assert shape_err.mean() < 3.0, shape_err.round(1)
    ratio_out = integrated_loudness(out["ambience"][:, None], RATE) - integrated_loudness(speech[:, None], RATE)
    ratio_truth = integrated_loudness(scene.ambience, RATE) - integrated_loudness(scene.wet, RATE)
    assert abs(ratio_out - ratio_truth) < 3.0, (ratio_out, ratio_truth)
