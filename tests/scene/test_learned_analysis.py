"""The learned scene estimator behind analyse_reference: default, recorded, and harmless colour."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfiltfilt

from engine.kit.rooms import RoomConfig
from engine.kit.scene import SceneSpec, render_scene
from engine.scene import analyse_reference
from engine.scene.estimator import load_estimator, shipped_available
from engine.scene.profile import THIRD_OCTAVE_BANDS_HZ

BANDS = np.asarray(THIRD_OCTAVE_BANDS_HZ)


@pytest.fixture(scope="module")
def booth_reference():
    spec = SceneSpec(RoomConfig(dims_m=(3.6, 3.0, 2.6), source_m=(1.2, 1.5, 1.5), mic_m=(1.9, 1.6, 1.6), rt60_s=0.3),
                     "proc:hvac", 30.0, 4)
    return render_scene(spec, 15.0, 48000, speaker="en+m3").mix


def test_the_shipped_estimator_ships_and_is_the_default(booth_reference) -> None:
    assert shipped_available(), "engine/scene/checkpoints/scene-estimator must ship with the package"
    analysis = analyse_reference(booth_reference, 48000)
    assert analysis.estimator == load_estimator().checkpoint_id
    assert analysis.scene_embedding is not None and analysis.scene_embedding.shape == (64,)
    assert "eq_gain_db" in analysis.learned_fields and "c50_db" in analysis.learned_fields
    # a treated booth is clear: its clarity is read, and it exceeds what its DRR alone would give
    assert analysis.profile.c50_db is not None and analysis.profile.c50_db > analysis.profile.drr_db
    dsp = analyse_reference(booth_reference, 48000, estimator="dsp")
    assert dsp.estimator == "dsp" and dsp.scene_embedding is None
    assert dsp.profile.c50_db is None  # no network, no clarity estimate: the renderer's exponential tail
    assert np.all(np.asarray(dsp.profile.eq_gain_db) == 0.0)  # no network, no colour: never harm


def test_preset_records_estimator_and_embedding(booth_reference, tmp_path) -> None:
    from presets import preset_from_reference

    path = tmp_path / "booth.flac"
    sf.write(path, booth_reference, 48000, subtype="PCM_24")
    preset = preset_from_reference("Booth", path)
    assert preset.source["analysis"]["estimator"].startswith("scene-")
    assert preset.embeddings["scene"].shape == (1, 64)


def test_band_limited_reference_leaves_the_top_octave_alone(booth_reference, tmp_path) -> None:
    """Issue 13: a reference band-limited to 9 kHz must not cut a full-band line above 10 kHz."""
    from engine.restyle import restyle
    from engine.settings import Settings
    from presets import preset_from_reference

    limited = sosfiltfilt(butter(10, 9000, fs=48000, output="sos"), booth_reference, axis=0).astype(np.float32)
    path = tmp_path / "limited.flac"
    sf.write(path, limited, 48000, subtype="PCM_24")
    preset = preset_from_reference("Limited", path)
    eq = np.asarray(preset.profile.eq_gain_db)
    assert np.all(eq[BANDS >= 10000] == 0.0)
    rng = np.random.default_rng(0)
    white = rng.standard_normal(48000 * 8)
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(np.maximum(np.fft.rfftfreq(white.size, 1 / 48000), 20.0)))
    line = (0.1 * pink / np.std(pink)).astype(np.float32)[:, None]
    stems = restyle(line, 48000, preset, Settings(stems=True, trim_db=-60.0))
    out = (stems.dialogue + stems.reverb)[:, 0]

    def levels(x):
        from engine.scene.spectrum import third_octave_levels_db

        return third_octave_levels_db(x, 48000)

    change = levels(out) - levels(line[:, 0])
    mid = change[(BANDS >= 1000) & (BANDS <= 4000)].mean()
    top = change[(BANDS >= 10000) & (BANDS <= 20000)]
    assert np.all(np.abs(top - mid) <= 2.0), np.round(top - mid, 1)


def test_features_read_the_same_room_at_44k1_as_at_48k(booth_reference) -> None:
    """The STFT window is a power of two near 32 ms (23 ms at 44.1 kHz, 43 ms at 48 kHz); the
    network was trained at 48 kHz, so other rates are resampled before the band levels."""
    from scipy.signal import resample_poly

    from engine.scene.features import band_levels_db

    mono = booth_reference[:, 0]
    at48 = band_levels_db(mono, 48000)
    at44 = band_levels_db(resample_poly(mono, 147, 160).astype(np.float32), 44100)
    n = min(at48.shape[0], at44.shape[0])
    loud = at48[:n] > at48[:n].max() - 60.0
    assert abs(at48.shape[0] - at44.shape[0]) <= 2
    assert np.median(np.abs(at48[:n] - at44[:n])[loud]) < 0.5


def test_clarity_round_trips_and_old_presets_load_without_it(booth_reference) -> None:
    import json
    from dataclasses import replace

    from engine.errors import PresetError
    from engine.scene.profile import SceneProfile

    profile = analyse_reference(booth_reference, 48000).profile
    assert SceneProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile
    old = json.loads(json.dumps(profile.to_dict()))
    del old["c50_db"]  # a preset written before the field existed
    assert SceneProfile.from_dict(old) == replace(profile, c50_db=None)
    with pytest.raises(PresetError, match="c50_db"):
        replace(profile, c50_db=500.0).validate()
