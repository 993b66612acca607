"""Physical checks of the speech metrics: gain-invariant log-mel, speech long-term spectrum, STOI gap.

Each test states a fact about sound that the metric must respect (a gain is not a colour, a tilt
of s dB per octave has a known RMS over third octaves, reverberation costs intelligibility) on
kit speech or plain noise, never on hand-picked numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio import resample
from engine.evaluation import perceptual, spectral
from engine.evaluation.metrics import METRICS, PERCEPTUAL_KEYS, stoi_gap
from engine.kit.rooms import RoomConfig
from engine.kit.scene import SceneSpec, render_scene, speech_activity
from engine.scene.profile import THIRD_OCTAVE_BANDS_HZ

RATE_HZ = 48000


@pytest.fixture(scope="module")
def scene():
    """A kit recording: espeak line in a 0.6 s room with HVAC under it at 15 dB SNR."""
    room = RoomConfig(dims_m=(6.0, 4.5, 2.8), source_m=(2.0, 2.0, 1.6), mic_m=(3.5, 2.4, 1.7), rt60_s=0.6)
    return render_scene(SceneSpec(room, "proc:hvac", 15.0, seed=3), 5.0, RATE_HZ, speaker="en+f1")


def _tilted(x: np.ndarray, sample_rate_hz: int, db_per_octave: float) -> np.ndarray:
    """``x`` through a zero-phase EQ of ``db_per_octave`` about 1 kHz (exact in the FFT domain)."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1.0 / sample_rate_hz)
    freqs[0] = freqs[1]
    gain = 10.0 ** (db_per_octave * np.log2(freqs / 1000.0) / 20.0)
    return np.fft.irfft(spectrum * gain, x.size)


def _spectrum(x: np.ndarray, active: np.ndarray | None = None, rate_hz: int = RATE_HZ) -> np.ndarray:
    return spectral.speech_spectrum_db(x, rate_hz, active)


@pytest.mark.parametrize("gain_db", [6.0, -6.0])
def test_a_broadband_gain_leaves_gain_invariant_measures_at_zero_but_moves_the_old_log_mel(scene, gain_db) -> None:
    truth = scene.mix[:, 0].astype(np.float64)
    louder = truth * 10.0 ** (gain_db / 20.0)
    truth_mel = spectral.log_mel_db(truth, RATE_HZ)
    out_mel = spectral.log_mel_db(louder, RATE_HZ)
    active = speech_activity(scene.dry, RATE_HZ)

    assert spectral.log_mel_distance_gain_invariant_db(out_mel, truth_mel) < 1e-6
    assert spectral.speech_spectrum_error_db(_spectrum(louder, active), _spectrum(truth, active)) < 1e-6
    assert spectral.log_mel_distance_db(out_mel, truth_mel) == pytest.approx(abs(gain_db), abs=1.0)


def test_gain_invariant_log_mel_still_sees_colour(scene) -> None:
    truth = scene.mix[:, 0].astype(np.float64)
    dull = _tilted(truth, RATE_HZ, -3.0) * 2.0
    gi = spectral.log_mel_distance_gain_invariant_db(spectral.log_mel_db(dull, RATE_HZ), spectral.log_mel_db(truth, RATE_HZ))
    assert gi > 2.0


@pytest.mark.parametrize("db_per_octave", [1.0, 3.0, -3.0])
def test_a_tilted_eq_gives_its_rms_over_third_octaves(db_per_octave) -> None:
    # White noise measured in every band; a tilt of s dB/octave is s * log2(f / 1 kHz) per band,
    # so after level alignment its RMS is s times the spread of the bands' log2 centres.
    noise = np.random.default_rng(1).standard_normal(4 * RATE_HZ) * 0.05
    truth_db = _spectrum(noise)
    out_db = _spectrum(2.0 * _tilted(noise, RATE_HZ, db_per_octave))  # the gain must not matter
    measured = np.isfinite(truth_db)
    log2_centres = np.log2(np.asarray(THIRD_OCTAVE_BANDS_HZ)[measured] / 1000.0)
    assert measured.sum() >= 25 and not measured[-1]  # 50 Hz .. 16 kHz at 48 kHz; 25 kHz is past Nyquist
    expected_db = abs(db_per_octave) * float(np.std(log2_centres))
    assert spectral.speech_spectrum_error_db(out_db, truth_db) == pytest.approx(expected_db, abs=0.2)


def test_speech_spectrum_uses_the_dry_lines_active_frames(scene) -> None:
    # Ambience-only gaps hold no speech: a hum there (as loud as the speech's 100 Hz band) must
    # barely colour the speech spectrum, though it colours the whole signal's. Not exactly 0: the
    # 32 ms STFT frames at the edges of the lines see some of it.
    truth = scene.mix[:, 0].astype(np.float64)
    active = speech_activity(scene.dry, RATE_HZ)
    hum = 0.01 * np.sin(2 * np.pi * 100.0 * np.arange(truth.size) / RATE_HZ) * ~active
    out = truth + hum
    assert spectral.speech_spectrum_error_db(_spectrum(out, active), _spectrum(truth, active)) < 0.3
    assert spectral.speech_spectrum_error_db(_spectrum(out), _spectrum(truth)) > 1.0


def test_bands_the_truth_lacks_do_not_count(scene) -> None:
    # A truth band-limited to 8 kHz says nothing about 10-20 kHz: hiss added there is not scored.
    truth = _lowpass(scene.mix[:, 0].astype(np.float64), RATE_HZ, 8000.0)
    hiss = _highpass(np.random.default_rng(2).standard_normal(truth.size) * 0.01, RATE_HZ, 10000.0)
    active = speech_activity(scene.dry, RATE_HZ)
    assert spectral.speech_spectrum_error_db(_spectrum(truth + hiss, active), _spectrum(truth, active)) < 0.3


def test_bands_above_the_lower_nyquist_do_not_count(scene) -> None:
    # An output at 16 kHz (Nyquist 8 kHz) is compared with a 48 kHz truth on the bands both hold;
    # the same output back at 48 kHz is empty above 8 kHz and is scored for it.
    truth = scene.mix[:, 0].astype(np.float64)
    active = speech_activity(scene.dry, RATE_HZ)
    low_rate = resample(truth[:, None].astype(np.float32), RATE_HZ, 16000)[:, 0]
    low_active = speech_activity(resample(scene.dry, RATE_HZ, 16000), 16000)
    out_db = _spectrum(low_rate, low_active, rate_hz=16000)
    assert np.all(np.isnan(out_db[np.asarray(THIRD_OCTAVE_BANDS_HZ) > 7000.0]))
    assert spectral.speech_spectrum_error_db(out_db, _spectrum(truth, active)) < 0.2
    back = resample(low_rate[:, None], 16000, RATE_HZ)[: truth.size, 0]
    assert spectral.speech_spectrum_error_db(_spectrum(back, active), _spectrum(truth, active)) > 3.0


@pytest.mark.skipif(bool(perceptual.availability()["stoi"]), reason="pystoi (extra 'eval') not installed")
def test_stoi_gap_is_negative_for_a_too_wet_output_and_positive_for_a_too_dry_one() -> None:
    rate = perceptual.PERCEPTUAL_RATE_HZ
    dry = render_scene(SceneSpec(RoomConfig(rt60_s=0.3), "none", 30.0, seed=4), 6.0, rate, speaker="en+m1").dry

    def wet(rt60_s: float) -> np.ndarray:
        room = RoomConfig(dims_m=(12.0, 9.0, 5.0), source_m=(2.0, 2.0, 1.6), mic_m=(8.0, 6.0, 1.7), rt60_s=rt60_s)
        return render_scene(SceneSpec(room, "none", 30.0, seed=4), 6.0, rate, speech=dry).mix[:, 0]

    line = dry[:, 0]
    truth, washed = wet(0.4), wet(3.0)
    truth_stoi = perceptual.stoi(line, truth)
    assert perceptual.stoi(line, washed) < truth_stoi < perceptual.stoi(line, line)
    assert stoi_gap(perceptual.stoi(line, washed), truth_stoi) < -0.05
    assert stoi_gap(perceptual.stoi(line, line), truth_stoi) > 0.05
    assert stoi_gap(perceptual.stoi(line, truth), truth_stoi) == 0.0


def test_new_metrics_are_declared_for_the_report() -> None:
    keys = {m.key: m for m in METRICS}
    for key in ("logmel_gain_inv_db", "speech_lts_err_db", "stoi_gap", "stoi_gap_abs"):
        assert key in keys
    assert keys["stoi_gap"].best_at_zero and not keys["stoi_gap_abs"].higher_is_better
    assert PERCEPTUAL_KEYS["stoi_gap"] == PERCEPTUAL_KEYS["stoi_gap_abs"] == "stoi"


def _lowpass(x: np.ndarray, rate_hz: int, cutoff_hz: float) -> np.ndarray:
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(x.size, 1.0 / rate_hz) > cutoff_hz] = 0.0
    return np.fft.irfft(spectrum, x.size)


def _highpass(x: np.ndarray, rate_hz: int, cutoff_hz: float) -> np.ndarray:
    return x - _lowpass(x, rate_hz, cutoff_hz)
