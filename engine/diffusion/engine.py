"""The diffusion engine: a Renderer (engine.render) around a trained stylizer package.

Signal path, per file (streaming, bounded memory):

1. **Mid**: the channels are averaged into one mid signal (dialogue is mono or dual-mono in
   practice; one model pass instead of one per channel, and no random decorrelation between
   channels). The model band is the same in every output channel; the stereo image above the
   crossover comes from the match engine, which renders each channel.
2. **Level**: the mid is brought to the training speech level (``MODEL_SPEECH_LUFS``, the
   corpus' -26 dBFS speech) with one fixed gain from the source's integrated loudness, and the
   output is scaled back by its inverse, so the model always sees the levels it learnt.
3. **Enhancement H at inference**: the dry dialogue is already "enhanced" (clean, close, dry), so
   H is the identity plus the training's light Gaussian noise (``INPUT_NOISE_STD``, the default
   of engine.train.enhance), drawn per absolute sample so overlapping windows see the same input.
4. **Model rate**: soxr streams (engine.audio.resample's resampler, HQ) to and from 16 kHz.
5. **Windows**: ``window`` = the training window (2.56 s), hop = 3/4 window, several windows per
   U-Net call, CFG's two passes in the same batch (StylizerPipeline.predict_noise), joined by
   engine.diffusion.windowing.OverlapAdd (triangular crossfades). Every window gets the same
   condition tokens, and its initial noise is cut from ONE long noise sequence indexed by absolute
   latent frame (drawn in chunks of ``NOISE_CHUNK_FRAMES`` from (seed, chunk)), so overlapping
   windows start from identical noise where they overlap and agree closely there. The networks run
   through the backend engine.runtime picks (``Settings.backend``/``device``/``precision``); in the
   batch runner's throughput mode the windows of several files share batches
   (engine.diffusion.throughput).
6. **Formulation** (the package's ``StylizerConfig.formulation``):

   * ``residual`` (the shipped ``roomtone-residual``): the model never renders the words. The
     dialogue is the match engine's direct path (the dry line through the scene's direct-path EQ and
     gain: its dialogue stem, sample for sample); the model renders the scene's **reverb** and
     **ambience** as two stems (two latents, one vocoder pass each), scaled by the wet and trim
     faders. Above the model's Nyquist each stem is the match engine's, joined through a
     power-complementary linear-phase crossover (``power_crossover``, ramp ``CROSSOVER_BAND_HZ``):
     the two renders of a diffuse sound are independent, so their powers add and an amplitude
     crossover would leave a 3 dB hole. ``--stems`` writes all three; they sum to the mix.
   * ``full`` (the paper's; ``roomtone-tiny``): the model renders the whole scene recording; above
     ``CROSSOVER_HZ`` the match engine's mix is used through a complementary FIR crossover: out =
     delay(match) + LP(model - match) = LP(model) + HP(match) exactly; the whole mix goes to the
     'dialogue' stem (the model's output is inseparable), 'reverb' and 'ambience' are silent.

   latency_frames is the crossover FIR's group delay; at 16 kHz or below the model band is the
   whole band.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

# the checkpoint names here are re-exported for callers of this module (engine.restyle, engine.batch)
from engine.diffusion.checkpoint import CHECKPOINT_ENV, FULL_CHECKPOINT, SHIPPED_CHECKPOINT, \
    available_checkpoint, checkpoint_formulation, diffusion_available, load_stylizer, require_checkpoint  # noqa: F401
from engine.diffusion.embeddings import preset_condition
from engine.diffusion.pipeline import StylizerPipeline, make_sampler
from engine.diffusion.windowing import OverlapAdd
from engine.render import SourceInfo, Stems
from engine.settings import Settings

MODEL_SPEECH_LUFS = -26.0
MAX_LEVEL_GAIN_DB = 30.0
SILENT_LUFS = -69.0
INPUT_NOISE_STD = 1e-3
CROSSOVER_HZ = 7000.0  # below soxr HQ's passband edge at 8 kHz Nyquist (~7.3 kHz) and the vocoder's top
CROSSOVER_BAND_HZ = (6300.0, 7300.0)  # the residual's power-complementary ramp (see power_crossover)
LEVEL_JOIN_BAND_HZ = (5600.0, 6400.0)
LEVEL_JOIN_PRIOR_S = 0.25
LEVEL_JOIN_MAX_DB = 24.0
POWER_CROSSOVER_TAPS_PER_KHZ = 8  # 4 would leave a 0.4 dB dip at the ramp's middle; 8 leaves < 0.1 dB
CROSSOVER_TAPS_PER_KHZ = 4  # FIR length ~ 4 taps per kHz of source rate: ~1 kHz transition band
NOISE_CHUNK_FRAMES = 64
WINDOW_BATCH = 4
OVERLAP = 0.25


def _level_gain(loudness_lufs: float) -> float:
    if not math.isfinite(loudness_lufs) or loudness_lufs <= SILENT_LUFS:
        return 1.0
    db = float(np.clip(MODEL_SPEECH_LUFS - loudness_lufs, -MAX_LEVEL_GAIN_DB, MAX_LEVEL_GAIN_DB))
    return 10.0 ** (db / 20.0)


def _seed_of(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint32).view(np.uint64)[0]
               % (2**63 - 1))


def latent_noise(seed: int, start_frame: int, frames: int, shape: tuple[int, int]) -> torch.Tensor:
    """(channels, height, frames) standard normal noise cut from one infinite sequence over latent frames."""
    out = []
    first, last = start_frame // NOISE_CHUNK_FRAMES, (start_frame + frames - 1) // NOISE_CHUNK_FRAMES
    for chunk in range(first, last + 1):
        g = torch.Generator(device="cpu").manual_seed(_seed_of(seed, 1, chunk))
        out.append(torch.randn((*shape, NOISE_CHUNK_FRAMES), generator=g, dtype=torch.float32))
    noise = torch.cat(out, dim=-1)
    offset = start_frame - first * NOISE_CHUNK_FRAMES
    return noise[..., offset: offset + frames]


def input_noise(seed: int, start: int, n: int, std: float, chunk: int = 16000) -> np.ndarray:
    """Gaussian noise for absolute samples [start, start + n) of the model-rate input."""
    if n <= 0:
        return np.zeros(0, np.float32)
    parts = []
    first, last = start // chunk, (start + n - 1) // chunk
    for k in range(first, last + 1):
        parts.append(np.random.default_rng([seed, 2, k]).standard_normal(chunk).astype(np.float32))
    noise = np.concatenate(parts)[start - first * chunk: start - first * chunk + n]
    return (noise * np.float32(std)).astype(np.float32)


class WindowStylizer:
    """The window model for OverlapAdd: (B, window) dry model-rate waves -> (B, window) stylized waves.

    ``stylize`` takes windows together with their own start noise and condition, so windows of
    different files can share one network batch (engine.diffusion.throughput); every window's
    result depends only on its own inputs, whatever it is batched with.
    """

    def __init__(self, model, condition: torch.Tensor, settings: Settings, latent_frame_samples: int,
                 backend=None) -> None:
        config = model.config
        self.pipe = StylizerPipeline.from_stylizer(model, make_sampler(settings.sampler, config), backend)
        self.condition = condition
        self.steps, self.guidance, self.seed = int(settings.steps), float(settings.guidance), int(settings.seed)
        self.sampler_name = settings.sampler
        self.latent_frame_samples = latent_frame_samples
        self.calls = 0

    @property
    def batch_key(self) -> tuple:
        """Windows of stylizers with equal keys may share a batch (same networks, loop and guidance)."""
        return id(self.pipe.backend) if self.pipe.backend is not None else id(self.pipe.unet), \
            self.sampler_name, self.steps, self.guidance

    def start_noise(self, starts: list[int], shape: tuple[int, int, int]) -> torch.Tensor:
        """(B, C, F, T) initial latents: cut by absolute latent frame from this file's seed's sequence."""
        c, h, t = shape
        return torch.stack([latent_noise(self.seed, s // self.latent_frame_samples, t, (c, h)) for s in starts])

    def latent_shape(self, window: int) -> tuple[int, int, int]:
        """(C, F, T) of the sampled latent of one window of ``window`` samples (C: all stems)."""
        config = self.pipe.vae.config
        frames = window // self.pipe.mel.config.hop_length
        down = config.downsample_factor
        return self.pipe.unet.config.noisy_channels, -(-self.pipe.mel.config.n_mels // down), -(-frames // down)

    @torch.no_grad()
    def __call__(self, windows: np.ndarray, starts: list[int]) -> np.ndarray:
        noise = self.start_noise(starts, self.latent_shape(windows.shape[-1]))
        return self.stylize(windows, noise, self.condition, generator_seed=_seed_of(self.seed, 3, starts[0]))

    @torch.no_grad()
    def stylize(self, windows: np.ndarray, noise: torch.Tensor, condition: torch.Tensor,
                generator_seed: int = 0) -> np.ndarray:
        """windows (B, window), noise (B, C, F, T), condition (1 or B, L, D) -> (B, window) float32.

        A residual model's windows are (B, stems, window) with the dry input in every row (so the
        overlap-add carries the stem axis through); it returns each stem: (B, stems, window)."""
        pipe = self.pipe
        stems = pipe.stems
        if stems > 1:
            windows = windows[:, 0]
        wave = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        out = pipe(wave, condition, latents=noise, steps=self.steps, guidance_scale=self.guidance,
                   seed=generator_seed).wave  # the seed drives DDIM eta > 0 only: the start noise is given
        self.calls += 1
        if out.shape[-1] < windows.shape[-1]:
            out = torch.nn.functional.pad(out, (0, windows.shape[-1] - out.shape[-1]))
        return out.float().cpu().numpy()


def _crossover_lowpass(rate_hz: int) -> np.ndarray:
    from scipy.signal import firwin

    taps = int(round(CROSSOVER_TAPS_PER_KHZ * rate_hz / 1000.0)) | 1
    return firwin(taps, CROSSOVER_HZ, fs=rate_hz, window=("kaiser", 8.0))


def power_crossover(rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) linear-phase FIRs of equal length with |L|^2 + |H|^2 = 1.

    Why power- and not amplitude-complementary: the model's residual and the match engine's above
    the crossover are independent renderings of a diffuse sound (tails, beds), so their powers add;
    L + H = 1 would leave a 3 dB hole where both are at half amplitude. Gains follow a cos/sin ramp
    over CROSSOVER_BAND_HZ, below the resampler's passband edge.
    """
    from scipy.signal import firwin2

    taps = int(round(POWER_CROSSOVER_TAPS_PER_KHZ * rate_hz / 1000.0)) | 1
    lo_hz, hi_hz = CROSSOVER_BAND_HZ
    freqs = np.concatenate([[0.0], np.linspace(lo_hz, hi_hz, 33), [rate_hz / 2.0]])
    ramp = np.concatenate([[0.0], np.linspace(0.0, 1.0, 33), [1.0]])
    low = firwin2(taps, freqs, np.cos(0.5 * np.pi * ramp), fs=rate_hz, window=("kaiser", 6.0))
    high = firwin2(taps, freqs, np.sin(0.5 * np.pi * ramp), fs=rate_hz, window=("kaiser", 6.0))
    return low, high


class _StreamFIR:
    """A FIR over (frames, channels) blocks, with its state carried from block to block."""

    def __init__(self, taps: np.ndarray, channels: int) -> None:
        self.taps = np.asarray(taps, dtype=np.float64)
        self.state = np.zeros((len(self.taps) - 1, channels))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from scipy.signal import lfilter

        if len(x) == 0:
            return np.zeros((0, self.state.shape[1]))
        y, self.state = lfilter(self.taps, [1.0], np.asarray(x, dtype=np.float64), axis=0, zi=self.state)
        return y


class _StreamDelay:
    def __init__(self, frames: int, channels: int) -> None:
        self.line = np.zeros((frames, channels), np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        joined = np.concatenate([self.line, np.asarray(x, np.float32)])
        self.line = joined[len(x):]
        return joined[: len(x)]


class _LevelJoin:
    """Gain for the match engine's stem above the crossover, so its level continues the model's.

    The model and the match engine estimate a scene's level independently; where they disagree the
    crossover would show a step of that size (a model hearing pink noise renders a 17 dB louder bed
    than the preset's). Both are measured in the third octaves just below the ramp
    (``LEVEL_JOIN_BAND_HZ``), accumulated from the start of the file (the dB ratio is shrunk
    towards 0 by n / (n + ``LEVEL_JOIN_PRIOR_S``), so the first blocks stay near unity), and
    clamped to +-LEVEL_JOIN_MAX_DB. Cumulative sums: the gain settles instead of riding the signal.
    """

    def __init__(self, rate_hz: int, channels: int) -> None:
        from scipy.signal import firwin

        taps = firwin(int(round(POWER_CROSSOVER_TAPS_PER_KHZ * rate_hz / 1000.0)) | 1, LEVEL_JOIN_BAND_HZ,
                      pass_zero=False, fs=rate_hz)
        self._model, self._match = _StreamFIR(taps, 1), _StreamFIR(taps, channels)
        self._prior = LEVEL_JOIN_PRIOR_S * rate_hz
        self._p_model = self._p_match = 0.0
        self._n = 0

    def __call__(self, model: np.ndarray, match: np.ndarray) -> float:
        gain = self.gain
        if len(model):
            self._p_model += float(np.sum(self._model(model[:, None]) ** 2))
            # Per channel, as each output channel plays it (the mid of decorrelated channels is 3 dB lower).
            self._p_match += float(np.mean(np.sum(self._match(match) ** 2, axis=0)))
            self._n += len(model)
        return gain

    @property
    def gain(self) -> float:
        """From what came before this block (so a block's gain never depends on its own samples)."""
        if self._n == 0 or self._p_match <= 0.0 or self._p_model <= 0.0:
            return 1.0
        db = 10.0 * np.log10(self._p_model / self._p_match) * self._n / (self._n + self._prior)
        return float(10.0 ** (np.clip(db, -LEVEL_JOIN_MAX_DB, LEVEL_JOIN_MAX_DB) / 20.0))


class DiffusionRenderer:
    """Renderer protocol; see the module docstring for the signal path."""

    def __init__(self, preset, settings: Settings, source: SourceInfo, checkpoint_dir: str | Path | None = None,
                 window_batch: int = WINDOW_BATCH, batcher=None) -> None:
        """``batcher`` (engine.diffusion.throughput.WindowBatcher) pools this file's windows with other
        files' into shared network batches; None runs ``window_batch`` windows at a time on its own."""
        import soxr

        from engine.match import MatchRenderer
        from engine.runtime.select import load_backend

        checkpoint_dir = require_checkpoint(checkpoint_dir)
        max_windows = batcher.max_windows if batcher is not None else window_batch
        model, config, ident, backend = load_backend(checkpoint_dir, settings.backend, settings.device,
                                                     settings.precision, max_windows)
        self.checkpoint_id, self.backend = ident, backend
        self.formulation = config.formulation
        self.stems = len(config.stem_names)
        condition, self.reembedded = preset_condition(preset, model, ident, backend.device, encode=backend.condition)
        self.source, self.settings = source, settings
        sr, ch = int(source.sample_rate_hz), int(source.channels)
        self.rate, self.channels = sr, ch
        self.model_rate = int(config.mel.sample_rate_hz)
        hop_mel = config.mel.hop_length
        latent_frame = hop_mel * config.vae.downsample_factor
        window = 256 * hop_mel  # the training window: 2.56 s at 16 kHz = 256 mel frames = 64 latent frames
        hop = max(latent_frame, int(round(window * (1 - OVERLAP) / latent_frame)) * latent_frame)
        self.window_model = WindowStylizer(model, condition, settings, latent_frame, backend)
        if batcher is not None:
            self._ola = OverlapAdd(window, hop, batcher.client(self.window_model), batch=batcher.windows_per_file)
        else:
            self._ola = OverlapAdd(window, hop, self.window_model, batch=window_batch)
        self._gain = _level_gain(source.loudness_lufs)
        self._down = soxr.ResampleStream(sr, self.model_rate, 1, dtype="float32", quality="HQ") \
            if sr != self.model_rate else None
        self._up = soxr.ResampleStream(self.model_rate, sr, self.stems, dtype="float32", quality="HQ") \
            if sr != self.model_rate else None
        self._model_in = 0  # model-rate samples fed so far (for the input noise)
        self._frames_in = 0
        self._frames_out = 0
        residual = self.formulation == "residual"
        # The match engine: the residual formulation's direct path (always) and, above the model's
        # band, the scene of either formulation.
        self._match = None
        self.latency_frames = 0
        crossover = sr > self.model_rate
        if residual or crossover:
            self._match = MatchRenderer(preset.profile, preset.ambience, preset.ambience_rate_hz,
                                        settings.with_(stems=residual), source)
        if crossover and residual:
            low, high = power_crossover(sr)
            self.latency_frames = (len(low) - 1) // 2
            self._low = [_StreamFIR(low, 1) for _ in range(self.stems)]
            self._high = [_StreamFIR(high, ch) for _ in range(self.stems)]
            self._dialogue_delay = _StreamDelay(self.latency_frames, ch)
            self._joins = [_LevelJoin(sr, ch) for _ in range(self.stems)]
        elif crossover:
            lp = _crossover_lowpass(sr)
            self.latency_frames = (len(lp) - 1) // 2
            self._lp = _StreamFIR(lp, ch)
            self._delay = _StreamDelay(self.latency_frames, ch)
        self._crossover_on = crossover
        # Mixer controls on the model's stems, as the match engine applies them to its own.
        # The package's calibration first (its stems' measured level bias), then the faders.
        calibration = np.asarray(config.stem_gain_db or (0.0,) * self.stems, np.float64)
        faders = np.array([settings.wet_db, settings.trim_db])[: self.stems]
        self._stem_gains = (10.0 ** ((calibration + faders) / 20.0)).astype(np.float32)[:, None] if residual \
            else np.ones((1, 1), np.float32)
        self._lo_pending = np.zeros((self.stems, 0), np.float32)  # model stems at the source rate, not yet combined
        self._hi_pending = np.zeros((0, 3 if residual else 1, ch), np.float32)  # match stems (or mix), not yet combined

    # -- protocol ---------------------------------------------------------------------------

    def process(self, block: np.ndarray) -> Stems:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected a (frames, {self.channels}) block, got shape {block.shape}")
        self._frames_in += len(block)
        lo = self._model_band(self._to_model(block.mean(axis=1)), last=False)
        hi = self._match_stems(self._match.process(block)) if self._match is not None else None
        return self._combine(lo, hi)

    def flush(self) -> Stems:
        lo = self._model_band(self._to_model(np.zeros(0, np.float32), last=True), last=True)
        hi = self._match_stems(self._match.flush()) if self._match is not None else None
        # Exactly the input's length on every path (the resamplers may be off by a sample), then the
        # crossover's delay lines are pushed out with zeros.
        owed = self._frames_in - self._frames_out
        self._lo_pending = _fit(np.concatenate([self._lo_pending, lo], axis=1).T, owed).T
        if hi is not None:
            self._hi_pending = _fit(np.concatenate([self._hi_pending, hi]), owed)
            pad = self.latency_frames
            self._lo_pending = np.concatenate([self._lo_pending, np.zeros((self.stems, pad), np.float32)], axis=1)
            self._hi_pending = np.concatenate([self._hi_pending, np.zeros((pad, *self._hi_pending.shape[1:]), np.float32)])
        return self._combine(np.zeros((self.stems, 0), np.float32), None if hi is None else hi[:0])

    # -- internals ----------------------------------------------------------------------------

    def _match_stems(self, stems: Stems) -> np.ndarray:
        """(frames, 3, channels) dialogue/reverb/ambience for the residual, (frames, 1, channels) mix otherwise."""
        if self.formulation == "residual":
            return np.stack([stems.dialogue, stems.reverb, stems.ambience], axis=1).astype(np.float32)
        return stems.mix[:, None].astype(np.float32)

    def _to_model(self, mid: np.ndarray, last: bool = False) -> np.ndarray:
        x = mid.astype(np.float32) * np.float32(self._gain)
        if self._down is not None:
            x = self._down.resample_chunk(x, last=last)
        x = x + input_noise(self.settings.seed, self._model_in, len(x), INPUT_NOISE_STD)
        self._model_in += len(x)
        return np.stack([x] * self.stems) if self.stems > 1 else x  # the overlap-add carries the stem axis

    def _model_band(self, x: np.ndarray, last: bool) -> np.ndarray:
        """Model output at the source rate, (stems, frames)."""
        y = self._ola.push(x) if x.shape[-1] or not last else np.zeros((*x.shape[:-1], 0))
        if last:
            tail = self._ola.finish()
            y = np.concatenate([y.reshape(*tail.shape[:-1], -1), tail], axis=-1)
        y = (y / self._gain).astype(np.float32).reshape(self.stems, -1)
        if self._up is not None:
            y = np.atleast_2d(self._up.resample_chunk(np.ascontiguousarray(y.T), last=last).T)
        return y.reshape(self.stems, -1).astype(np.float32)

    def _combine(self, lo: np.ndarray, hi: np.ndarray | None) -> Stems:
        self._lo_pending = np.concatenate([self._lo_pending, lo], axis=1)
        if hi is None:
            n = self._lo_pending.shape[1]
            lo_n, self._lo_pending = self._lo_pending[:, :n], self._lo_pending[:, n:]
            hi_n = None
        else:
            self._hi_pending = np.concatenate([self._hi_pending, hi])
            n = min(self._lo_pending.shape[1], len(self._hi_pending))
            lo_n, hi_n = self._lo_pending[:, :n], self._hi_pending[:n]
            self._lo_pending, self._hi_pending = self._lo_pending[:, n:], self._hi_pending[n:]
        self._frames_out += n
        if self.formulation == "residual":
            return self._residual_stems(lo_n * self._stem_gains, hi_n)
        mix = np.repeat(lo_n[0][:, None], self.channels, axis=1) if hi_n is None else self._crossover(lo_n[0], hi_n[:, 0])
        mix = mix.astype(np.float32)
        zeros = np.zeros_like(mix)
        return Stems(dialogue=mix, reverb=zeros, ambience=zeros.copy())

    def _residual_stems(self, model: np.ndarray, match: np.ndarray) -> Stems:
        """Dialogue = the match engine's direct path, untouched; reverb and ambience = the model's
        stems below the crossover and the match engine's above it (power-complementary)."""
        if not self._crossover_on:
            spread = lambda x: np.repeat(x[:, None], self.channels, axis=1)  # noqa: E731
            return Stems(dialogue=match[:, 0].copy(), reverb=spread(model[0]), ambience=spread(model[1]))
        dialogue = self._dialogue_delay(match[:, 0])
        scene = []
        for k in range(self.stems):
            above = match[:, 1 + k] * np.float32(self._joins[k](model[k], match[:, 1 + k]))
            scene.append(self._low[k](model[k][:, None]) + self._high[k](above))
        return Stems(dialogue=dialogue, reverb=scene[0].astype(np.float32), ambience=scene[1].astype(np.float32))

    def _crossover(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """delay_D(hi) + LP(lo - hi): the low band of the model plus the high band of the match render."""
        if len(lo) == 0:
            return np.zeros((0, self.channels), np.float32)
        return self._delay(hi) + self._lp(lo[:, None].astype(np.float64) - hi.astype(np.float64))


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    n = max(0, n)
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros((n - len(x), *x.shape[1:]), x.dtype)])
