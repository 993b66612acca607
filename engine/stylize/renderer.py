"""The diffusion engine: a Renderer (engine.render) around a trained stylizer package.

Signal path, per file (streaming, bounded memory); each step's code is in the module named:

1. **Mid**: the channels are averaged into one mid signal (dialogue is mono or dual-mono in
   practice; one model pass instead of one per channel, and no random decorrelation between
   channels). The model band is the same in every output channel; the stereo image above the
   crossover comes from the match engine, which renders each channel.
2. **Level**: the mid is brought to the training speech level (``MODEL_SPEECH_LUFS``, the
   corpus' -26 dBFS speech) with one fixed gain from the source's integrated loudness, and the
   output is scaled back by its inverse, so the model always sees the levels it learnt
   (engine.stylize.level).
3. **Enhancement H at inference**: the dry dialogue is already "enhanced" (clean, close, dry), so
   H is the identity plus the training's light Gaussian noise (``INPUT_NOISE_STD``, the default
   of engine.train.enhance), drawn per absolute sample so overlapping windows see the same input
   (engine.stylize.noise).
4. **Model rate**: soxr streams (engine.audio.resample's resampler, HQ) to and from 16 kHz.
5. **Windows**: ``window`` = the training window (2.56 s), hop = 3/4 window, several windows per
   U-Net call, CFG's two passes in the same batch (StylizerPipeline.predict_noise), joined by
   engine.stylize.windowing.OverlapAdd (triangular crossfades). Every window gets the same
   condition tokens, and its initial noise is cut from ONE long noise sequence indexed by absolute
   latent frame (drawn in chunks of ``NOISE_CHUNK_FRAMES`` from (seed, chunk)), so overlapping
   windows start from identical noise where they overlap and agree closely there
   (engine.stylize.stylizer.WindowStylizer). The networks run through the backend engine.runtime
   picks (``Settings.backend``/``device``/``precision``); in the batch runner's throughput mode the
   windows of several files share batches (engine.stylize.throughput).
6. **Formulation** (the package's ``StylizerConfig.formulation``):

   * ``residual`` (the shipped ``roomtone-residual``): the model never renders the words. The
     dialogue is the match engine's direct path (the dry line through the scene's direct-path EQ and
     gain: its dialogue stem, sample for sample within float32 rounding); the model renders the scene's **reverb** and
     **ambience** as two stems (two latents, one vocoder pass each), scaled by the wet and trim
     faders. Above the model's Nyquist each stem is the match engine's, joined through a
     power-complementary linear-phase crossover (``power_crossover``, ramp ``CROSSOVER_BAND_HZ``):
     the two renders of a diffuse sound are independent, so their powers add and an amplitude
     crossover would leave a 3 dB hole (engine.stylize.crossover). ``--stems`` writes all three;
     they sum to the mix.
   * ``full`` (the paper's; ``roomtone-tiny``): the model renders the whole scene recording; above
     ``CROSSOVER_HZ`` the match engine's mix is used through a complementary FIR crossover: out =
     delay(match) + LP(model - match) = LP(model) + HP(match) exactly; the whole mix goes to the
     'dialogue' stem (the model's output is inseparable), 'reverb' and 'ambience' are silent.

   latency_frames is the crossover FIR's group delay; at 16 kHz or below the model band is the
   whole band.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr

from engine.diffusion.checkpoint import require_checkpoint
from engine.match import MatchRenderer
from engine.render import SourceInfo, Stems
from engine.runtime.select import load_backend, resolve_runtime
from engine.settings import Settings
from engine.stylize.condition import preset_condition
from engine.stylize.crossover import LevelJoin, StreamDelay, StreamFIR, crossover_lowpass, power_crossover
from engine.stylize.level import level_gain
from engine.stylize.noise import INPUT_NOISE_STD, input_noise
from engine.stylize.stylizer import WindowStylizer
from engine.stylize.windowing import OverlapAdd

WINDOW_BATCH = 4
OVERLAP = 0.25


class DiffusionRenderer:
    """Renderer protocol; see the module docstring for the signal path."""

    def __init__(self, preset, settings: Settings, source: SourceInfo, checkpoint_dir: str | Path | None = None,
                 window_batch: int = WINDOW_BATCH, batcher=None) -> None:
        """``batcher`` (engine.stylize.throughput.WindowBatcher) pools this file's windows with other
        files' into shared network batches; None runs ``window_batch`` windows at a time on its own."""
        checkpoint_dir = require_checkpoint(checkpoint_dir)
        max_windows = batcher.max_windows if batcher is not None else window_batch
        self.runtime = resolve_runtime(settings.backend, settings.device, settings.precision)
        model, config, ident, backend = load_backend(checkpoint_dir, self.runtime, max_windows)
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
        self._gain = level_gain(source.loudness_lufs)
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
            self._low = [StreamFIR(low, 1) for _ in range(self.stems)]
            self._high = [StreamFIR(high, ch) for _ in range(self.stems)]
            self._dialogue_delay = StreamDelay(self.latency_frames, ch)
            self._joins = [LevelJoin(sr, ch) for _ in range(self.stems)]
        elif crossover:
            lp = crossover_lowpass(sr)
            self.latency_frames = (len(lp) - 1) // 2
            self._lp = StreamFIR(lp, ch)
            self._delay = StreamDelay(self.latency_frames, ch)
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
