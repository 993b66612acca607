"""The diffusion engine: windowing, determinism, the Renderer contract, embeddings, the shipped checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.diffusion import Stylizer, StylizerConfig, save_checkpoint
from engine.diffusion.checkpoint import available_checkpoint
from engine.stylize.condition import EMBEDDING_KEY, preset_condition
from engine.stylize.noise import latent_noise
from engine.stylize.renderer import DiffusionRenderer
from engine.stylize.stylizer import WindowStylizer
from engine.stylize.windowing import OverlapAdd, overlap_add, window_starts
from engine.errors import RoomtoneError
from engine.restyle import engine_status, make_renderer, restyle
from engine.render import SourceInfo
from engine.settings import Settings
from presets.store import load_preset

from tests.diffusion.conftest import jitter_

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dialogue" / "sc12_t03_adr.wav"
FACTORY = ROOT / "presets" / "factory"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, str]:
    torch.manual_seed(0)
    config = StylizerConfig.named("tiny")
    model = jitter_(Stylizer(config))
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    return path, save_checkpoint(model, config, path)


@pytest.fixture
def preset():
    return load_preset(FACTORY / "restaurant")


def speech(seconds: float, rate: int = 48000) -> np.ndarray:
    audio, sr = sf.read(EXAMPLE, dtype="float32", always_2d=True)
    assert sr == 48000
    start = 2 * sr
    return audio[start: start + int(seconds * sr)]


def band_energy(x: np.ndarray, rate: int, lo_hz: float, hi_hz: float) -> float:
    spec = np.abs(np.fft.rfft(x, axis=0)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spec[(f >= lo_hz) & (f < hi_hz)].sum())


def highpass(x: np.ndarray, rate: int, hz: float) -> np.ndarray:
    spec = np.fft.rfft(x, axis=0)
    spec[np.fft.rfftfreq(len(x), 1 / rate) < hz] = 0
    return np.fft.irfft(spec, len(x), axis=0)


# ------------------------------------------------------------------- windowing


@pytest.mark.parametrize("n", [1, 999, 1000, 1001, 4321, 20000])
def test_identity_model_reconstructs_exactly(n):
    x = np.random.default_rng(0).standard_normal((2, n))
    y = overlap_add(x, 1000, 750, lambda w, s: w, batch=3)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_streaming_matches_one_shot_in_any_blocks():
    x = np.random.default_rng(1).standard_normal(23456)
    fn = lambda w, s: w * 0.5 + np.asarray(s, float)[:, None] * 1e-4  # window-dependent output  # noqa: E731
    whole = overlap_add(x, 1000, 640, fn, batch=2)
    ola = OverlapAdd(1000, 640, fn, batch=2)
    parts = [ola.push(x[i: i + 777]) for i in range(0, len(x), 777)] + [ola.finish()]
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-9)
    assert len(whole) == len(x)


def test_seams_are_crossfades_not_steps():
    """Each window outputs its own constant: the join must ramp between them, never jump."""
    x = np.zeros(10000)
    y = overlap_add(x, 1000, 750, lambda w, s: np.ones_like(w) * np.asarray(s, float)[:, None], batch=4)
    steps = np.abs(np.diff(y))
    assert steps.max() <= 750 / 250 + 1e-9  # ramp over the 250-sample overlap, window values 750 apart
    assert window_starts(10000, 1000, 750)[-1] + 1000 >= 10000


def test_latent_noise_is_one_sequence():
    a = latent_noise(7, 0, 128, (8, 16))
    b = latent_noise(7, 48, 64, (8, 16))
    torch.testing.assert_close(a[..., 48:112], b)
    assert not torch.equal(latent_noise(8, 0, 64, (8, 16)), a[..., :64])


# ------------------------------------------------------------------- the real (tiny) model


def test_real_model_seams_are_not_rougher(checkpoint, preset):
    from engine.diffusion.checkpoint import load_stylizer

    model, config, ident = load_stylizer(checkpoint[0])
    cond, _ = preset_condition(preset, model, ident)
    settings = Settings(engine="diffusion", steps=3, seed=1)
    fn = WindowStylizer(model, cond, settings, latent_frame_samples=640)
    x = speech(6.0)[:, 0]
    from engine.audio import resample

    x16 = resample(x[:, None], 48000, 16000)[:, 0]
    window, hop = 40960, 30720
    y = overlap_add(x16, window, hop, fn, batch=3)
    assert y.shape == x16.shape and np.all(np.isfinite(y))
    d = np.abs(np.diff(y))
    seams = [s for s in window_starts(len(x16), window, hop)[1:]] + [s + window for s in
                                                                      window_starts(len(x16), window, hop)[:-1]]
    at_seams = max(d[max(0, s - 3): s + 3].max() for s in seams if s < len(d))
    assert at_seams <= d.max() + 1e-9
    assert at_seams <= np.quantile(d, 0.999)


def test_renderer_is_deterministic_by_seed(checkpoint, preset, monkeypatch):
    monkeypatch.setenv("ROOMTONE_CHECKPOINT", str(checkpoint[0]))
    x = speech(1.5)
    a = restyle(x, 48000, preset, Settings(engine="diffusion", steps=2, seed=3)).mix
    b = restyle(x, 48000, preset, Settings(engine="diffusion", steps=2, seed=3)).mix
    c = restyle(x, 48000, preset, Settings(engine="diffusion", steps=2, seed=4)).mix
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("rate,channels", [(48000, 2), (16000, 1)])
def test_restyle_exact_length_rate_channels_and_full_band(checkpoint, preset, monkeypatch, rate, channels):
    monkeypatch.setenv("ROOMTONE_CHECKPOINT", str(checkpoint[0]))
    from engine.audio import resample

    x = resample(speech(3.3), 48000, rate)
    x = np.repeat(x, channels, axis=1)[:-7]
    settings = Settings(engine="diffusion", steps=2, seed=0, stems=True)
    stems = restyle(x, rate, preset, settings)
    assert stems.mix.shape == x.shape and stems.mix.dtype == np.float32
    assert np.all(np.isfinite(stems.mix))
    np.testing.assert_allclose(stems.dialogue + stems.reverb + stems.ambience, stems.mix)
    if rate == 48000:
        # Above the model's Nyquist the output is the match engine's render (through the crossover).
        high = band_energy(stems.mix, rate, 9000, 20000)
        assert high > 0.0
        match = restyle(x, rate, preset, Settings(engine="match", seed=0)).mix
        m_high = band_energy(match, rate, 9000, 20000)
        assert 0.5 < high / m_high < 2.0
        # Not just the same energy: the same waveform above the crossover's transition band.
        # The FFT high-pass is circular: where the two renders' low bands differ at the file's ends,
        # the wrap-around step rings across the band, so 0.1 s at each end is left out.
        edge = rate // 10
        a, b = highpass(stems.mix, rate, 8500)[edge:-edge], highpass(match, rate, 8500)[edge:-edge]
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_make_renderer_without_checkpoint_is_a_clear_error(preset, monkeypatch, tmp_path):
    import engine.diffusion.checkpoint as eng

    monkeypatch.setenv("ROOMTONE_CHECKPOINT", str(tmp_path / "nothing"))
    monkeypatch.setattr(eng, "SHIPPED_CHECKPOINT", tmp_path / "nothing-either")
    with pytest.raises(RoomtoneError, match="checkpoint") as raised:
        make_renderer(preset, Settings(engine="diffusion"), SourceInfo(48000, 1, 48000, -24.0))
    # One message, from require_checkpoint: the renderer, engine_status (CLI, desktop, evaluation) agree.
    with pytest.raises(RoomtoneError) as direct:
        DiffusionRenderer(preset, Settings(engine="diffusion"), SourceInfo(48000, 1, 48000, -24.0))
    with pytest.raises(RoomtoneError) as required:
        eng.require_checkpoint()
    assert str(raised.value) == str(direct.value) == str(required.value) == engine_status("diffusion")[1]


def test_reembeds_when_checkpoint_differs_without_changing_the_preset(checkpoint, preset):
    from engine.stylize.condition import CONDITION_MEMO
    from engine.diffusion.checkpoint import load_stylizer

    path, ident = checkpoint
    source = SourceInfo(48000, 1, 48000, -24.0)
    CONDITION_MEMO.clear()
    preset.embeddings = {EMBEDDING_KEY: np.zeros((14, 64), np.float32)}
    preset.embeddings_checkpoint = "another-checkpoint"
    r = DiffusionRenderer(preset, Settings(engine="diffusion"), source, path)
    assert r.reembedded  # another checkpoint's tokens are not used...
    assert preset.embeddings_checkpoint == "another-checkpoint"  # ...nor replaced: renderers share the preset
    assert not preset.embeddings[EMBEDDING_KEY].any()
    r = DiffusionRenderer(preset, Settings(engine="diffusion"), source, path)
    assert not r.reembedded  # embedded once per process (engine.stylize.condition.CONDITION_MEMO)
    model, _, _ = load_stylizer(path)
    tokens, fresh = preset_condition(preset, model, ident)
    assert not fresh
    CONDITION_MEMO.clear()
    preset.embeddings, preset.embeddings_checkpoint = {EMBEDDING_KEY: tokens[0].numpy()}, ident
    r = DiffusionRenderer(preset, Settings(engine="diffusion"), source, path)
    assert not r.reembedded  # this checkpoint's stored tokens are used as they are
    torch.testing.assert_close(preset_condition(preset, model, ident)[0], tokens)


# ------------------------------------------------------------------- the shipped checkpoint


def test_shipped_checkpoint_restyles_the_example(preset, monkeypatch):
    monkeypatch.delenv("ROOMTONE_CHECKPOINT", raising=False)
    path = available_checkpoint()
    if path is None:
        pytest.skip("no checkpoint is shipped in models/")
    x = speech(3.0)
    stems = restyle(x, 48000, preset, Settings(engine="diffusion", steps=4))
    assert stems.mix.shape == x.shape and np.all(np.isfinite(stems.mix))
    assert np.abs(stems.mix).max() > 1e-4
    assert (path / "weights.safetensors").stat().st_size <= 40 << 20
