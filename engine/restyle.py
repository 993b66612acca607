"""Restyling one signal or one file: the engine choice, streaming, and sample-exact lengths.

Both the batch runner and the GUI's preview call these, so the rule "output length equals input
length, whatever the engine's latency" is enforced in exactly one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from engine.audio import AudioReader, AudioWriter, LoudnessMeter, integrated_loudness, probe
from engine.errors import RoomtoneError
from engine.progress import CancelToken
from engine.render import STEM_NAMES, Renderer, SourceInfo, Stems
from engine.scene.profile import SceneProfile
from engine.settings import Settings

BLOCK_FRAMES = 1 << 17  # ~2.7 s at 48 kHz: big enough for fast FFTs, small enough for bounded memory


class SceneSource(Protocol):
    """What an engine needs of a preset (presets.ScenePreset satisfies it)."""

    profile: SceneProfile
    ambience: np.ndarray
    ambience_rate_hz: int


def make_renderer(preset: SceneSource, settings: Settings, source: SourceInfo, batcher=None) -> Renderer:
    """``batcher`` (engine.diffusion.throughput.WindowBatcher) pools diffusion windows across files."""
    if settings.engine == "match":
        from engine.match import MatchRenderer

        return MatchRenderer(preset.profile, preset.ambience, preset.ambience_rate_hz, settings, source)
    if settings.engine == "diffusion":
        from engine.diffusion.engine import CHECKPOINT_ENV, DiffusionRenderer, available_checkpoint

        checkpoint = available_checkpoint()
        if checkpoint is None:
            raise RoomtoneError(
                f"the diffusion engine needs a trained checkpoint: none is shipped with this build and "
                f"${CHECKPOINT_ENV} is not set to one; use --engine match"
            )
        return DiffusionRenderer(preset, settings, source, checkpoint, batcher=batcher)
    raise RoomtoneError(
        f"the {settings.engine!r} engine is not available in this build; use --engine match"
    )


class _ExactLength:
    """Drops the renderer's latency at the start and cuts at the input's length."""

    def __init__(self, renderer: Renderer, frames: int) -> None:
        self.to_drop = renderer.latency_frames
        self.remaining = frames

    def __call__(self, stems: Stems) -> Stems | None:
        start = min(self.to_drop, len(stems))
        self.to_drop -= start
        stop = start + min(self.remaining, len(stems) - start)
        self.remaining -= stop - start
        if stop <= start:
            return None
        return Stems(*(getattr(stems, n)[start:stop] for n in STEM_NAMES))

    def drain(self, renderer: Renderer) -> list[Stems | None]:
        """Pull what the renderer still owes after the last block."""
        parts = []
        while self.remaining > 0:
            tail = renderer.flush()
            if len(tail) == 0:
                raise RoomtoneError("the engine ended short of the input's length (internal error)")
            parts.append(self(tail))
        return parts


def restyle(audio: np.ndarray, sample_rate_hz: int, preset: SceneSource, settings: Settings) -> Stems:
    """Restyle an in-memory (frames, channels) signal; the result has exactly its length."""
    if audio.ndim != 2 or len(audio) == 0:
        raise ValueError(f"audio must be a non-empty (frames, channels) array, got shape {audio.shape}")
    audio = audio.astype(np.float32, copy=False)
    source = SourceInfo(sample_rate_hz, audio.shape[1], len(audio), integrated_loudness(audio, sample_rate_hz))
    renderer = make_renderer(preset, settings, source)
    exact = _ExactLength(renderer, len(audio))
    parts = [exact(renderer.process(audio[i : i + BLOCK_FRAMES])) for i in range(0, len(audio), BLOCK_FRAMES)]
    parts += exact.drain(renderer)
    stems = Stems.concatenate([p for p in parts if p is not None], audio.shape[1])
    assert len(stems) == len(audio)
    return stems


def restyle_file(
    source_path: Path,
    outputs: dict[str, Path],
    preset: SceneSource,
    settings: Settings,
    on_fraction: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
    batcher=None,
) -> None:
    """Two streaming passes (loudness, then render) with bounded memory; outputs appear atomically.

    `outputs` maps 'mix' and optionally stem names to paths. Every output is written to a
    temporary name and renamed only when all of them are complete; stems before the mix, so an
    existing mix always means a complete set.
    """
    info = probe(source_path)
    cancel = cancel or CancelToken()
    total = 2 * info.frames
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if on_fraction is not None:
            on_fraction(min(done / total, 1.0))

    meter = LoudnessMeter(info.sample_rate_hz, info.channels)
    with AudioReader(source_path, BLOCK_FRAMES) as reader:
        for block in reader.blocks():
            cancel.raise_if_cancelled()
            meter.add(block)
            tick(len(block))
    source = SourceInfo(info.sample_rate_hz, info.channels, info.frames, meter.integrated_lufs())
    renderer = make_renderer(preset, settings, source, batcher)
    exact = _ExactLength(renderer, info.frames)

    order = [n for n in (*STEM_NAMES, "mix") if n in outputs]
    writers = {name: AudioWriter(outputs[name], like=info) for name in order}
    try:

        def emit(stems: Stems | None) -> None:
            if stems is None:
                return
            for name, writer in writers.items():
                writer.write(stems.mix if name == "mix" else getattr(stems, name))

        with AudioReader(source_path, BLOCK_FRAMES) as reader:
            for block in reader.blocks():
                cancel.raise_if_cancelled()
                emit(exact(renderer.process(block)))
                tick(len(block))
        for tail in exact.drain(renderer):
            emit(tail)
        cancel.raise_if_cancelled()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    for name in order:
        writers[name].close()


def preview(
    source_path: Path,
    preset: SceneSource,
    settings: Settings,
    start_s: float | None = None,
    duration_s: float = 10.0,
) -> tuple[np.ndarray, Stems, int]:
    """A short excerpt (the middle by default) restyled in memory, for A/B before a long render."""
    info = probe(source_path)
    frames = min(info.frames, max(1, int(round(duration_s * info.sample_rate_hz))))
    if start_s is None:
        start = (info.frames - frames) // 2
    else:
        start = min(max(0, int(round(start_s * info.sample_rate_hz))), info.frames - frames)
    with AudioReader(source_path) as reader:
        dry = reader.read(start, frames)
    return dry, restyle(dry, info.sample_rate_hz, preset, settings), info.sample_rate_hz
