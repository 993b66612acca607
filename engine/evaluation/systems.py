"""The systems under evaluation: each turns (dry input, reference) into an output for one case.

Why these five: the dry input (identity) is the floor any system must beat; the oracle is the
ceiling that shows how much of each metric is irreducible (a different ambience excerpt alone
moves the spectral distances); Separate & Remix is the paper's baseline (the reference's
separated ambience laid under the input, no room); the match and diffusion engines are ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engine.errors import RoomtoneError
from engine.evaluation.cases import EvalCase
from engine.kit.scene import speech_activity
from engine.settings import Settings

# Full mode: the shipped (residual) model over a guidance sweep, and the paper's full-signal
# formulation (engine.diffusion.checkpoint.FULL_CHECKPOINT) at its default, on the same cases.
# Samplers and step counts are left at the defaults: they moved no metric by more than 1.5 %.
DIFFUSION_GUIDANCE_FULL = (1.0, 2.0, 4.5)


@dataclass
class SystemOutput:
    """A system's render of one case: (frames, 1) float32 at the case's rate, input-aligned."""

    audio: np.ndarray
    notes: dict = field(default_factory=dict)


class System(Protocol):
    name: str

    def render(self, case: EvalCase) -> SystemOutput:
        """Render one case; may raise RoomtoneError (the runner records the failure)."""
        ...


class DryInput:
    """Identity: the dry input as delivered, the floor every system must beat."""

    name = "dry input"

    def render(self, case: EvalCase) -> SystemOutput:
        return SystemOutput(case.dry.copy())


class Oracle:
    """The truth's reverberant speech with a DIFFERENT ambience excerpt of the same scene.

    The ambience is the reference take's own (same type, same SNR convention), rescaled to the
    truth's ambience RMS. Scoring the truth against itself would give perfect, uninformative
    numbers; this shows the floor a perfect room with a perfect-but-different bed can reach.
    """

    name = "oracle (truth wet + other ambience excerpt)"

    def render(self, case: EvalCase) -> SystemOutput:
        n = len(case.truth.wet)
        other = _fit(case.reference.ambience[:, 0].astype(np.float64), n)
        own_rms = _rms(case.truth.ambience[:, 0])
        other_rms = _rms(other)
        gain = own_rms / other_rms if other_rms > 0 else 0.0
        audio = case.truth.wet[:, 0].astype(np.float64) + gain * other
        return SystemOutput(audio.astype(np.float32)[:, None])


class SeparateRemix:
    """The paper's Separate & Remix baseline: DeepFilterNet splits the reference into speech and
    ambience (ambience = reference - separated speech), which is laid under the dry input so the
    ambience-to-active-speech ratio is the reference's. No room is added to the input: that is
    exactly the gap the baseline leaves."""

    name = "separate & remix"

    def render(self, case: EvalCase) -> SystemOutput:
        from engine.audio import resample
        from engine.scene.separation import DF_SAMPLE_RATE_HZ, enhance_48k

        sr = case.sample_rate_hz
        ref = case.reference.mix[:, :1].astype(np.float32)
        ref48 = ref if sr == DF_SAMPLE_RATE_HZ else resample(ref, sr, DF_SAMPLE_RATE_HZ)
        speech48 = enhance_48k(ref48[:, 0])
        speech = speech48[:, None] if sr == DF_SAMPLE_RATE_HZ else resample(speech48[:, None], DF_SAMPLE_RATE_HZ, sr)
        speech = _fit(speech[:, 0].astype(np.float64), len(ref))
        ambience = ref[:, 0].astype(np.float64) - speech

        ref_speech_rms = _active_rms(speech, speech, sr)
        dry = case.dry[:, 0].astype(np.float64)
        ratio = _rms(ambience) / ref_speech_rms if ref_speech_rms > 0 else 0.0
        bed = _fit(ambience, len(dry))
        bed_rms = _rms(bed)
        gain = ratio * _active_rms(dry, dry, sr) / bed_rms if bed_rms > 0 else 0.0
        out = dry + gain * bed
        return SystemOutput(out.astype(np.float32)[:, None], {"ambience_to_speech_db": _db(ratio)})


class MatchEngine:
    """Ours, DSP: reference -> blind analysis -> preset -> restyle with default settings."""

    name = "match engine"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings(engine="match")

    def render(self, case: EvalCase) -> SystemOutput:
        from engine.restyle import restyle
        from engine.scene import analyse_reference
        from presets.store import ScenePreset

        sr = case.sample_rate_hz
        analysis = analyse_reference(case.reference.mix, sr)
        preset = ScenePreset.from_analysis(case.case_id, analysis)
        stems = restyle(case.dry, sr, preset, self.settings)
        p = analysis.profile
        notes = {
            "analysed_rt60_s": [round(float(v), 3) for v in p.rt60_s],
            "analysed_drr_db": round(float(p.drr_db), 2),
            "analysed_ambience_to_speech_db": round(float(p.ambience_to_speech_db), 2),
        }
        return SystemOutput(stems.mix[:, :1].astype(np.float32), notes)


class DiffusionEngine(MatchEngine):
    """Ours, generative: the same preset path with the diffusion engine, one checkpoint and guidance."""

    def __init__(self, checkpoint=None, guidance: float | None = None, label: str = "") -> None:
        """``checkpoint`` None: the one a user's render takes (engine.diffusion.checkpoint.available_checkpoint)."""
        settings = Settings(engine="diffusion")
        if guidance is not None:
            settings = settings.with_(guidance=guidance)
        super().__init__(settings)
        self.checkpoint = checkpoint
        self.name = f"diffusion engine ({label or 'shipped'}, guidance {settings.guidance:g})"

    def render(self, case: EvalCase) -> SystemOutput:
        import os

        from engine.diffusion.checkpoint import CHECKPOINT_ENV

        if self.checkpoint is None:
            return super().render(case)
        before = os.environ.get(CHECKPOINT_ENV)
        os.environ[CHECKPOINT_ENV] = str(self.checkpoint)
        try:
            return super().render(case)
        finally:
            if before is None:
                os.environ.pop(CHECKPOINT_ENV, None)
            else:
                os.environ[CHECKPOINT_ENV] = before


def diffusion_available() -> tuple[bool, str]:
    """Whether this build can render with the diffusion engine, and why not (``engine_status``)."""
    from engine.restyle import engine_status

    return engine_status("diffusion")


def diffusion_systems(quick: bool) -> list[System]:
    from engine.diffusion.checkpoint import FULL_CHECKPOINT, checkpoint_formulation

    if quick:
        return [DiffusionEngine()]
    shipped = checkpoint_formulation() or "shipped"
    systems: list[System] = [DiffusionEngine(guidance=g, label=shipped) for g in DIFFUSION_GUIDANCE_FULL]
    if FULL_CHECKPOINT.exists() and checkpoint_formulation(FULL_CHECKPOINT) == "full" and shipped != "full":
        systems.append(DiffusionEngine(FULL_CHECKPOINT, label="full, roomtone-tiny"))
    return systems


def default_systems(quick: bool) -> tuple[list[System], list[tuple[str, str]]]:
    """The systems to run, and (name, reason) for those listed as not available."""
    systems: list[System] = [DryInput(), SeparateRemix(), MatchEngine()]
    unavailable: list[tuple[str, str]] = []
    available, why = diffusion_available()
    if available:
        systems += diffusion_systems(quick)
    else:
        unavailable.append(("diffusion engine", why))
    systems.append(Oracle())
    return systems, unavailable


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """Loop or cut a bed to ``n`` frames (a bed shorter than the input repeats, as S&R would)."""
    if x.size == 0:
        return np.zeros(n)
    if x.size >= n:
        return x[:n]
    return np.tile(x, int(np.ceil(n / x.size)))[:n]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _active_rms(x: np.ndarray, activity_source: np.ndarray, sr: int) -> float:
    active = speech_activity(activity_source, sr)[: x.size]
    values = x[: active.size][active]
    return _rms(values)


def _db(ratio: float) -> float:
    return float(20.0 * np.log10(ratio)) if ratio > 0 else float("-inf")
