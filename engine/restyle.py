"""Restyling one signal or one file: the engine choice, streaming, lengths, tail and speech level.

Both the batch runner and the GUI's preview call these, so the rules "output length equals input
length plus the asked-for tail, whatever the engine's latency" and "the restyled speech is as loud
as the dry line" are enforced in exactly one place.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from engine.audio import AudioReader, AudioWriter, LoudnessMeter, probe
from engine.audio.convolver import BlockConvolver, fft_convolve
from engine.audio.heap import keep_freed_memory
from engine.audio.loudness import LOUDNESS_FLOOR_LUFS, k_weighting_fir
from engine.audio.pcm import FLOAT_SUBTYPES
from engine.errors import InputError, RoomtoneError, printable
from engine.progress import CancelToken
from engine.render import STEM_NAMES, Renderer, SourceInfo, Stems
from engine.scene.profile import SceneProfile
from engine.settings import Settings

BLOCK_FRAMES = 1 << 17  # ~2.7 s at 48 kHz: big enough for fast FFTs, small enough for bounded memory
# The tail ends in a raised-cosine fade over its last half, at most this long: long enough not to be
# heard as a cut, short enough to leave the room's own decay untouched before it.
TAIL_FADE_MAX_S = 1.0
# Speech level: engines whose speech path is one linear filter (dialogue + reverb stems) get their
# loudness matched to the dry line's exactly, on the line itself (see SpeechLevel).
LINEAR_SPEECH_ENGINES = frozenset({"match"})
MAX_LEVEL_CORRECTION_DB = 24.0
# The match engine renders a file in one pass over it when its speech outputs fit in this much
# memory (a 45-minute stereo line at 48 kHz); longer files take a measuring pass first.
SINGLE_PASS_MAX_BYTES = 512 << 20


class SceneSource(Protocol):
    """What an engine needs of a preset (presets.ScenePreset satisfies it)."""

    profile: SceneProfile
    ambience: np.ndarray
    ambience_rate_hz: int


def engine_status(name: str) -> tuple[bool, str]:
    """(available, why not): the one answer the CLI, the evaluation and the desktop all ask.

    The match engine is always there; the diffusion engine needs a checkpoint package (the
    shipped one or $ROOMTONE_CHECKPOINT); any other name is not an engine of this build.
    """
    if name == "match":
        return True, ""
    if name == "diffusion":
        from engine.diffusion.checkpoint import require_checkpoint

        try:
            require_checkpoint()
        except RoomtoneError as exc:
            return False, str(exc)
        return True, ""
    return False, f"the {name!r} engine is not available in this build; use --engine match"


def make_renderer(preset: SceneSource, settings: Settings, source: SourceInfo, batcher=None,
                  level: "SpeechLevel | None" = None) -> Renderer:
    """``batcher`` (engine.stylize.throughput.WindowBatcher) pools diffusion windows across files;
    ``level`` (a SpeechLevel of this preset and settings) lends the match engine its cached speech
    path, so a measured line's filters are not synthesised a second time for its render."""
    check_engine(settings)
    if settings.engine == "match":
        from engine.match import MatchRenderer

        path = level.path(source.sample_rate_hz, source.channels) if level is not None else None
        return MatchRenderer(preset.profile, preset.ambience, preset.ambience_rate_hz, settings, source, path=path)
    from engine.diffusion.checkpoint import available_checkpoint
    from engine.stylize.renderer import DiffusionRenderer

    return DiffusionRenderer(preset, settings, source, available_checkpoint(), batcher=batcher)


def check_engine(settings: Settings) -> None:
    """Raise the error make_renderer would raise for every file, once, before any work starts."""
    ok, why = engine_status(settings.engine)
    if not ok:
        raise RoomtoneError(why)


def tail_frames(settings: Settings, sample_rate_hz: int) -> int:
    """Frames added after the input's last sample: round(tail_s * rate), exactly."""
    return int(round(settings.tail_s * sample_rate_hz))


# ---------------------------------------------------------------- speech level


def _diffusion_is_residual() -> bool:
    from engine.diffusion.checkpoint import checkpoint_formulation

    try:
        return checkpoint_formulation() == "residual"
    except RoomtoneError:
        return False


class SpeechLevel:
    """Keeps the restyled speech (dialogue + reverb) exactly as loud as the dry line (BS.1770).

    A scene's EQ and reverb change loudness by an amount that depends on the line's spectrum (an
    espeak line, band-limited at 11 kHz, came out 3-5 LU louder than a full-band voice through the
    same scene). So the dry line is measured both as it is and through the match engine's speech
    path (one linear filter), and the difference becomes one fixed gain on the dialogue and reverb
    stems. Only for engines whose speech path is linear (LINEAR_SPEECH_ENGINES, and the residual
    diffusion engine, whose dialogue is the match engine's); others keep their own level handling.
    One instance serves a whole batch: speech paths are cached per (rate, channels), so a thousand
    lines at one rate pay for one synthesis.
    """

    def __init__(self, preset: SceneSource, settings: Settings) -> None:
        self.preset = preset
        self.settings = settings.with_(stems=False, tail_s=0.0)
        self.enabled = settings.engine in LINEAR_SPEECH_ENGINES
        if settings.engine == "diffusion" and _diffusion_is_residual():
            # Its dialogue is the match engine's direct path and its reverb the match engine's
            # scene in the model's units: one gain, read from the match engine's speech path, keeps
            # the dialogue stem identical to the match engine's.
            self.settings = self.settings.with_(engine="match")
            self.enabled = True
        self._paths: dict[tuple[int, int], object] = {}
        self._lock = threading.Lock()

    def path(self, sample_rate_hz: int, channels: int):
        """The match engine's SpeechPath for this scene at one rate and channel count (cached)."""
        from engine.match.renderer import speech_path

        key = (int(sample_rate_hz), int(channels))
        with self._lock:
            if key not in self._paths:
                self._paths[key] = speech_path(self.preset.profile, self.settings, *key)
            return self._paths[key]

    def response(self, sample_rate_hz: int, channels: int) -> np.ndarray:
        """(taps, channels) float64: what the speech path does to an impulse on each channel."""
        return self.path(sample_rate_hz, channels).response

    def meter(self, sample_rate_hz: int, channels: int, frames: int, speech_filters: list | None = None) -> "LineMeter":
        """A meter for one line (also running `speech_filters` over it on the same FFTs)."""
        response = self.response(sample_rate_hz, channels) if self.enabled else None
        return LineMeter(sample_rate_hz, channels, frames, response, speech_filters or [])


class LineMeter:
    """The dry line's loudness and its loudness through the speech path, from one set of FFTs.

    Both K-weightings are FIRs (K, and the speech path convolved with K) that share the line's
    spectrum with any speech filters the render itself runs, so measuring while rendering costs
    two inverse FFTs, not two more passes. Only the first `frames` outputs are measured: what
    follows is the tail's silence.
    """

    def __init__(self, rate: int, channels: int, frames: int, response: np.ndarray | None,
                 speech_filters: list) -> None:
        k = k_weighting_fir(rate, channels)
        self._n = len(speech_filters)
        filters = list(speech_filters) + [k] + ([fft_convolve(response, k)] if response is not None else [])
        self._convolver = BlockConvolver(filters, channels)
        self._dry = LoudnessMeter(rate, channels)
        self._wet = LoudnessMeter(rate, channels) if response is not None else None
        self._left = int(frames)

    def process(self, block: np.ndarray) -> list[np.ndarray]:
        """Feed (n, channels) frames; returns the speech filters' outputs (whole chunks, maybe empty)."""
        return self._take(self._convolver.process(block))

    def flush(self) -> list[np.ndarray]:
        return self._take(self._convolver.flush())

    def _take(self, outs: list[np.ndarray]) -> list[np.ndarray]:
        m = min(self._left, len(outs[self._n]))
        self._left -= m
        self._dry.add_weighted(outs[self._n][:m])
        if self._wet is not None:
            self._wet.add_weighted(outs[self._n + 1][:m])
        return outs[: self._n]

    def levels(self) -> tuple[float, float]:
        """(the dry line's integrated LUFS, the fixed speech gain that brings the wet speech to it)."""
        if self._convolver.pending_frames:
            self.flush()
        dry_lufs = self._dry.integrated_lufs()
        if self._wet is None:
            return dry_lufs, 1.0
        wet_lufs = self._wet.integrated_lufs()
        if not (math.isfinite(dry_lufs) and math.isfinite(wet_lufs)) or min(dry_lufs, wet_lufs) <= LOUDNESS_FLOOR_LUFS:
            return dry_lufs, 1.0
        return dry_lufs, float(10.0 ** (np.clip(dry_lufs - wet_lufs, -MAX_LEVEL_CORRECTION_DB,
                                                MAX_LEVEL_CORRECTION_DB) / 20.0))


# ---------------------------------------------------------------- lengths, tail, level


class _Shaper:
    """Drops the renderer's latency at the start, cuts at the input's length plus the tail, fades
    the tail's end, and applies the speech-level gain to the dialogue and reverb stems.

    Every stem gets the same cut and fade, so the stems still sum to the mix."""

    def __init__(self, latency_frames: int, frames: int, tail: int, rate: int, speech_gain: float = 1.0) -> None:
        self.to_drop = int(latency_frames)
        self.remaining = frames + tail
        self.total = frames + tail
        self.position = 0  # output frames passed on so far
        self.fade = min(tail - tail // 2, int(round(TAIL_FADE_MAX_S * rate))) if tail > 0 else 0
        self.speech_gain = np.float32(speech_gain)

    def __call__(self, stems: Stems) -> Stems | None:
        start = min(self.to_drop, len(stems))
        self.to_drop -= start
        stop = start + min(self.remaining, len(stems) - start)
        self.remaining -= stop - start
        if stop <= start:
            return None
        parts = [getattr(stems, n)[start:stop] for n in STEM_NAMES]
        if self.speech_gain != 1.0:
            parts[0] = parts[0] * self.speech_gain
            parts[1] = parts[1] * self.speech_gain
        begin, self.position = self.position, self.position + (stop - start)
        fade_from = self.total - self.fade
        if self.fade and self.position > fade_from:
            k = np.arange(max(begin, fade_from), self.position) - fade_from + 1
            gain = (0.5 * (1.0 + np.cos(np.pi * k / self.fade))).astype(np.float32)[:, None]
            first = max(begin, fade_from) - begin
            parts = [np.concatenate([p[:first], p[first:] * gain]) for p in parts]
        return Stems(*parts)

    def silence(self, renderer: Renderer, tail: int, channels: int) -> Iterator[tuple[Stems | None, int]]:
        """Feed `tail` frames of silence after the input, so reverb and ambience ring out; yields
        (output, frames fed)."""
        for i in range(0, tail, BLOCK_FRAMES):
            n = min(BLOCK_FRAMES, tail - i)
            yield self(renderer.process(np.zeros((n, channels), np.float32))), n

    def drain(self, renderer: Renderer) -> list[Stems | None]:
        """Pull what the renderer still owes after the last block."""
        parts = []
        while self.remaining > 0:
            tail = renderer.flush()
            if len(tail) == 0:
                raise RoomtoneError("the engine ended short of the input's length (internal error)")
            parts.append(self(tail))
        return parts


# ---------------------------------------------------------------- peaks


@dataclass
class Peak:
    """The largest |sample| written to one output, and how many samples went past full scale."""

    value: float = 0.0
    over: int = 0

    def add(self, block: np.ndarray) -> None:
        if block.size:
            a = np.abs(block)
            self.value = max(self.value, float(a.max()))
            self.over += int(np.count_nonzero(a > 1.0))

    @property
    def dbfs(self) -> float:
        return 20.0 * math.log10(self.value) if self.value > 0 else -math.inf


@dataclass(frozen=True)
class RenderReport:
    """What one render wrote: frames per output (input + tail) and each output's peak."""

    frames: int
    tail_frames: int
    peaks: dict[str, Peak]
    float_samples: bool = False  # float files keep what goes past full scale; integer ones clip it

    def clip_warning(self, outputs: dict[str, Path]) -> str | None:
        """One line when an output went past full scale, else None."""
        return clip_warning(outputs, self.peaks, self.float_samples)


def clip_warning(outputs: dict[str, Path | str], peaks: dict[str, Peak], float_outputs: bool = False) -> str | None:
    """'FILE: the mix peaks at +3.1 dBFS, 120 samples clipped; lower ...' for the worst output past 0 dBFS."""
    over = {k: p for k, p in peaks.items() if p.over}
    if not over:
        return None
    name = max(over, key=lambda k: over[k].value)
    p = over[name]
    what = "mix" if name == "mix" else f"{name} stem"
    done = "go past full scale (kept in the float file)" if float_outputs else "were clipped"
    return (f"{printable(outputs[name])}: the {what} peaks at {p.dbfs:+.1f} dBFS, {p.over} samples {done}; "
            "lower the reverb (--wet-db) or the ambience trim (--trim-db), or the input's level")


# ---------------------------------------------------------------- in memory


def restyle(audio: np.ndarray, sample_rate_hz: int, preset: SceneSource, settings: Settings,
            level: SpeechLevel | None = None) -> Stems:
    """Restyle an in-memory (frames, channels) signal; the result has its length plus the tail."""
    if audio.ndim != 2 or len(audio) == 0:
        raise ValueError(f"audio must be a non-empty (frames, channels) array, got shape {audio.shape}")
    audio = audio.astype(np.float32, copy=False)
    keep_freed_memory()
    rate, channels = int(sample_rate_hz), audio.shape[1]
    blocks = [audio[i : i + BLOCK_FRAMES] for i in range(0, len(audio), BLOCK_FRAMES)]
    level = level or SpeechLevel(preset, settings)
    tail = tail_frames(settings, rate)
    if settings.engine == "match":
        parts = list(_single_pass(blocks, rate, channels, len(audio), tail, preset, settings, level))
    else:
        parts = list(_two_passes(lambda: iter(blocks), rate, channels, len(audio), tail, preset, settings, level))
    stems = Stems.concatenate([p for p in parts if p is not None], channels)
    assert len(stems) == len(audio) + tail
    return stems


def _two_passes(blocks: Callable[[], Iterable[np.ndarray]], rate: int, channels: int, frames: int, tail: int,
                preset: SceneSource, settings: Settings, level: SpeechLevel,
                tick: Callable[[int], None] | None = None, cancel: CancelToken | None = None,
                batcher=None) -> Iterator[Stems | None]:
    """Any engine, any length: a measuring pass over the line (its loudness, dry and through the
    speech path), then the render at the measured levels. `blocks()` starts a pass."""
    meter = level.meter(rate, channels, frames)
    for block in blocks():
        _check(cancel)
        meter.process(block)
        _tick(tick, len(block))
    dry_lufs, gain = meter.levels()
    renderer = make_renderer(preset, settings, SourceInfo(rate, channels, frames, dry_lufs), batcher, level)
    shaper = _Shaper(renderer.latency_frames, frames, tail, rate, gain)
    for block in blocks():
        _check(cancel)
        yield shaper(renderer.process(block))
        _tick(tick, len(block))
    for stems, n in shaper.silence(renderer, tail, channels):
        _check(cancel)
        yield stems
        _tick(tick, n)
    yield from shaper.drain(renderer)


def _single_pass(blocks: Iterable[np.ndarray], rate: int, channels: int, frames: int, tail: int,
                 preset: SceneSource, settings: Settings, level: SpeechLevel,
                 tick: Callable[[int], None] | None = None,
                 cancel: CancelToken | None = None) -> Iterator[Stems | None]:
    """The match engine in one pass over the line: the speech path and both loudness meters run
    on the same FFTs, its outputs wait in memory until the levels are known, and the bed (built on
    its worker meanwhile) is added as they are handed on."""
    from engine.match.renderer import SceneAmbience, ambience_target_lufs, speech_stems

    ambience = SceneAmbience(preset.ambience, preset.ambience_rate_hz, rate, channels, settings.seed)
    try:
        path = level.path(rate, channels)
        meter = level.meter(rate, channels, frames, path.filters(settings.stems))
        spool: list[list[np.ndarray]] = []
        for block in blocks:
            _check(cancel)
            spool.append(meter.process(block))
            _tick(tick, len(block))
        for i in range(0, tail, BLOCK_FRAMES):
            _check(cancel)
            n = min(BLOCK_FRAMES, tail - i)
            spool.append(meter.process(np.zeros((n, channels), np.float32)))
            _tick(tick, n)
        spool.append(meter.flush())
        dry_lufs, gain = meter.levels()
        ambience.set_level(ambience_target_lufs(preset.profile, settings, dry_lufs))
        shaper = _Shaper(0, frames, tail, rate, gain)
        spool = [outs for outs in spool if len(outs[0])]
        spool.reverse()  # handed on and freed chunk by chunk, from the end of the list
        beds = [ambience.submit(len(outs[0])) for outs in spool[-1:-3:-1]]  # the worker stays one ahead
        while spool:
            _check(cancel)
            outs = spool.pop()
            ambience_block = beds.pop(0).result()
            if len(spool) >= 2:
                beds.append(ambience.submit(len(spool[-2][0])))
            yield shaper(speech_stems(outs, ambience_block))
            _tick(tick, len(outs[0]))
    finally:
        ambience.close()


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()


def _tick(tick: Callable[[int], None] | None, n: int) -> None:
    if tick is not None:
        tick(n)


def single_pass_fits(settings: Settings, frames: int, channels: int) -> bool:
    """Whether the match engine can hold this line's speech outputs while it measures the line."""
    outputs = 2 if settings.stems else 1
    return settings.engine == "match" and frames * channels * 4 * outputs <= SINGLE_PASS_MAX_BYTES


# ---------------------------------------------------------------- files


def restyle_file(
    source_path: Path,
    outputs: dict[str, Path],
    preset: SceneSource,
    settings: Settings,
    on_fraction: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
    batcher=None,
    level: SpeechLevel | None = None,
) -> RenderReport:
    """Streaming with bounded memory; outputs appear atomically.

    The match engine reads the input once when its outputs fit in memory (single_pass_fits);
    otherwise a measuring pass comes first. `outputs` maps 'mix' and optionally stem names to
    paths. Every output is written to a temporary name and renamed only when all of them are
    complete; stems before the mix, so an existing mix always means a complete set. Outputs start
    at the input's first sample (same BWF time reference) and are `tail_frames` longer than the
    input.
    """
    info = probe(source_path)
    keep_freed_memory()  # blocks reuse the last block's pages instead of faulting in new ones
    cancel = cancel or CancelToken()
    level = level or SpeechLevel(preset, settings)
    rate, channels, frames = info.sample_rate_hz, info.channels, info.frames
    tail = tail_frames(settings, rate)
    total = 2 * frames + tail
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if on_fraction is not None:
            on_fraction(min(done / total, 1.0))

    order = [n for n in (*STEM_NAMES, "mix") if n in outputs]
    like = replace(info, frames=frames + tail)  # the writer sizes its header choice by it
    peaks = {name: Peak() for name in order}
    with contextlib.ExitStack() as readers:

        def blocks() -> Iterator[np.ndarray]:
            return readers.enter_context(AudioReader(source_path, BLOCK_FRAMES)).blocks()

        if single_pass_fits(settings, frames + tail, channels):
            parts = _single_pass(blocks(), rate, channels, frames, tail, preset, settings, level, tick, cancel)
        else:
            parts = _two_passes(blocks, rate, channels, frames, tail, preset, settings, level, tick, cancel, batcher)
        writers: dict[str, AudioWriter] = {}
        try:
            for stems in parts:
                if not writers:
                    writers = {name: AudioWriter(outputs[name], like=like) for name in order}
                if stems is None:
                    continue
                for name, writer in writers.items():
                    block = stems.mix if name == "mix" else getattr(stems, name)
                    peaks[name].add(block)
                    writer.write(block)
            _check(cancel)
            if not writers:
                writers = {name: AudioWriter(outputs[name], like=like) for name in order}
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
    for name in order:
        writers[name].close()
    return RenderReport(frames + tail, tail, peaks, info.subtype in FLOAT_SUBTYPES)


def preview(
    source_path: Path,
    preset: SceneSource,
    settings: Settings,
    start_s: float | None = None,
    duration_s: float = 10.0,
) -> tuple[np.ndarray, Stems, int]:
    """A short excerpt (the middle by default) restyled in memory, for A/B before a long render.

    An explicit start is honoured (the excerpt ends early at the end of the file); one at or past
    the end is an InputError. The dry excerpt is padded with the tail's silence, so A and B are
    the same length.
    """
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"the preview duration must be more than 0 s, got {duration_s:g} s")
    if start_s is not None and not (math.isfinite(start_s) and start_s >= 0):
        raise ValueError(f"the preview start must be 0 s or later, got {start_s:g} s")
    info = probe(source_path)
    frames = min(info.frames, max(1, int(round(duration_s * info.sample_rate_hz))))
    if start_s is None:
        start = (info.frames - frames) // 2
    else:
        start = int(round(start_s * info.sample_rate_hz))
        if start >= info.frames:
            raise InputError(source_path, f"the preview start {start_s:g} s is at or past the end of the file "
                                          f"({info.duration_s:.2f} s long); choose a start before "
                                          f"{info.duration_s:.2f} s")
        frames = min(frames, info.frames - start)
    with AudioReader(source_path) as reader:
        dry = reader.read(start, frames)
    stems = restyle(dry, info.sample_rate_hz, preset, settings)
    dry = np.concatenate([dry, np.zeros((len(stems) - len(dry), dry.shape[1]), dry.dtype)])
    return dry, stems, info.sample_rate_hz
