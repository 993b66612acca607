"""The evaluation test set: seeded scenes with a dry input, a reference and the ground-truth target.

Why these rules:

* **Disjoint from training and tuning.** Every random draw comes from
  ``np.random.SeedSequence([EVAL_SEED_BASE, case_index])``. ``EVAL_SEED_BASE`` is reserved for
  evaluation: the factory presets (``tools/make_factory_presets.py``) use hand-written rooms with
  scene seeds 11-16, the examples (``tools/make_examples.py``) seed 7, and training code must not
  draw from this entropy. The synthetic voices exclude every espeak variant those tools use
  (m2, m3, m4, f2, f3, f4), and the real ambiences the factory presets were made from (restaurant,
  rain, river, machine) are not used. The only real dry speech the kit ships is one speaker (the
  alsa clips, also used by the examples); the real-voice cases use it re-cut with evaluation-seeded
  order and pauses -- not a tuning set, but not a new voice either (stated in the report).
* **Truth means the input recorded there**: the dry input through the RIR of that scene at the
  input talker's position (``render_scene(..., speech=dry)``), plus the same ambience type at the
  same SNR (a fresh excerpt). The reference is another take of the same scene: same room, mic and
  ambience type, another talker at another position (as ``engine.kit.scene.scene_pair``).
* **Coverage by construction**, not by luck: shoebox cases cycle through log-spaced RT60 strata
  spanning 0.2-5 s (extremes first, so even the quick set spans them), every fifth case is
  outdoors, voices alternate female / male synthetic with every fourth case the real voice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import soundfile as sf

from engine.audio import resample
from engine.kit._assets import asset_dir
from engine.kit.rooms import random_room, reposition_source
from engine.kit.scene import SceneRecording, SceneSpec, render_scene
from engine.kit.speech import SPEAKERS, Speaker, speech_source

EVAL_SEED_BASE = 20_251_125

# Variants used by tools/make_factory_presets.py and tools/make_examples.py; never evaluated on.
_TOOL_VARIANTS = ("+m2", "+m3", "+m4", "+f2", "+f3", "+f4")
EVAL_SPEAKERS: tuple[Speaker, ...] = tuple(
    s for s in SPEAKERS if not any(s.voice.endswith(v) for v in _TOOL_VARIANTS)
)
FEMALE_SPEAKERS = tuple(s for s in EVAL_SPEAKERS if "+f" in s.voice)
MALE_SPEAKERS = tuple(s for s in EVAL_SPEAKERS if "+m" in s.voice)

# Real ambiences the factory presets were NOT made from, interleaved with procedural textures.
EVAL_AMBIENCES: tuple[str, ...] = (
    "real:night",
    "proc:hvac",
    "real:birds_morning_a",
    "proc:traffic",
    "real:campfire",
    "proc:wind",
    "real:locomotive",
    "proc:rain",
    "real:birds_exotic",
    "proc:babble",
    "real:thunder",
)

# Log-spaced mid-band RT60 strata (s), visited extremes first so any prefix spans the range.
RT60_STRATA_S: tuple[tuple[float, float], ...] = ((0.2, 0.45), (2.2, 5.0), (0.45, 1.0), (1.0, 2.2))
SNR_RANGE_DB = (5.0, 25.0)
REAL_VOICE = "real:alsa"


@dataclass(frozen=True)
class CasePlan:
    """What a case is meant to cover, decided from its index alone."""

    index: int
    room_kind: str  # 'shoebox' or 'outdoor'
    rt60_range_s: tuple[float, float] | None  # None outdoors
    voice: str  # 'female', 'male' or REAL_VOICE
    ambience: str


@dataclass
class EvalCase:
    """One test item. ``dry`` is what every system gets; ``truth.mix`` is what it should become.

    ``truth.wet``/``truth.ambience`` split the target; ``reference.mix`` is what a user would give.
    All audio is float32 (frames, 1) at ``sample_rate_hz``.
    """

    case_id: str
    plan: CasePlan
    sample_rate_hz: int
    input_voice: str
    reference_voice: str
    truth: SceneRecording
    reference: SceneRecording

    @property
    def dry(self) -> np.ndarray:
        return self.truth.dry

    def describe(self) -> dict:
        """Plain fields for the report's case table."""
        return {
            "case": self.case_id,
            "room": self.plan.room_kind,
            "rt60_mid_s": round(float(np.nanmean(self.truth.rt60_band_s[2:4])), 2),
            "drr_db": round(float(self.truth.drr_db), 1),
            "ambience": self.truth.spec.ambience,
            "snr_db": round(float(self.truth.snr_db), 1),
            "input_voice": self.input_voice,
            "reference_voice": self.reference_voice,
        }


def case_plan(index: int) -> CasePlan:
    """Deterministic coverage plan for case ``index`` (see the module docstring)."""
    outdoor = index % 5 == 3
    shoebox_rank = index - (index + 1) // 5  # how many shoebox cases came before this one
    voice = REAL_VOICE if index % 4 == 2 else ("female" if index % 2 == 0 else "male")
    return CasePlan(
        index=index,
        room_kind="outdoor" if outdoor else "shoebox",
        rt60_range_s=None if outdoor else RT60_STRATA_S[shoebox_rank % len(RT60_STRATA_S)],
        voice=voice,
        ambience=EVAL_AMBIENCES[index % len(EVAL_AMBIENCES)],
    )


def build_case(
    index: int,
    input_s: float = 10.0,
    reference_s: float = 12.0,
    sample_rate_hz: int = 48000,
) -> EvalCase:
    """Render case ``index``; the same arguments give bit-identical audio on every run."""
    plan = case_plan(index)
    rng = np.random.default_rng(np.random.SeedSequence([EVAL_SEED_BASE, index]))
    if plan.room_kind == "outdoor":
        room = random_room(rng, kind="outdoor")
    else:
        room = random_room(rng, rt60_range_s=plan.rt60_range_s, kind="shoebox")
    spec_ref = SceneSpec(
        room=room,
        ambience=plan.ambience,
        snr_db=round(float(rng.uniform(*SNR_RANGE_DB)), 2),
        seed=int(rng.integers(2**31 - 1)),
    )
    spec_truth = replace(spec_ref, room=reposition_source(room, rng), seed=int(rng.integers(2**31 - 1)))

    speech_rng = np.random.default_rng(rng.integers(2**63))
    if plan.voice == REAL_VOICE:
        dry = real_voice_speech(input_s, sample_rate_hz, speech_rng)
        input_voice = REAL_VOICE
        ref_pool = EVAL_SPEAKERS
    else:
        pool = FEMALE_SPEAKERS if plan.voice == "female" else MALE_SPEAKERS
        speaker = pool[int(rng.integers(len(pool)))]
        dry = speech_source(input_s, sample_rate_hz, speech_rng, speaker=speaker)
        input_voice = speaker.voice
        ref_pool = tuple(s for s in EVAL_SPEAKERS if s.voice != speaker.voice)
    ref_speaker = ref_pool[int(rng.integers(len(ref_pool)))]

    truth = render_scene(spec_truth, input_s, sample_rate_hz, speech=dry)
    reference = render_scene(spec_ref, reference_s, sample_rate_hz, speaker=ref_speaker)
    return EvalCase(
        case_id=f"case{index:03d}",
        plan=plan,
        sample_rate_hz=int(sample_rate_hz),
        input_voice=input_voice,
        reference_voice=ref_speaker.voice,
        truth=truth,
        reference=reference,
    )


def build_cases(
    n_cases: int,
    input_s: float = 10.0,
    reference_s: float = 12.0,
    sample_rate_hz: int = 48000,
) -> list[EvalCase]:
    """The first ``n_cases`` cases; a longer set always extends a shorter one."""
    return [build_case(i, input_s, reference_s, sample_rate_hz) for i in range(n_cases)]


def real_voice_speech(seconds: float, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """The kit's real dry voice clips in a seeded order with seeded pauses, (frames, 1) float32.

    Same conventions as ``speech_source``: digital silence between lines (free decays for the
    reverberation measures) and lines at about -23 dBFS RMS.
    """
    n_frames = int(round(seconds * sample_rate_hz))
    clips = _real_clips(int(sample_rate_hz))
    out = np.zeros(n_frames, dtype=np.float32)
    pos = int(round(rng.uniform(0.05, 0.4) * sample_rate_hz))
    while pos < n_frames:
        clip = clips[int(rng.integers(len(clips)))]
        gain = 10.0 ** ((-23.0 + rng.uniform(-2.0, 2.0)) / 20.0) / max(_rms(clip), 1e-9)
        take = min(clip.size, n_frames - pos)
        out[pos : pos + take] = clip[:take] * np.float32(gain)
        pos += clip.size + int(round(rng.uniform(0.2, 1.2) * sample_rate_hz))
    fade = min(int(0.005 * sample_rate_hz), n_frames // 2)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        out[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
    return out[:, None]


def _real_clips(sample_rate_hz: int) -> list[np.ndarray]:
    clips = []
    for path in sorted(asset_dir("speech").glob("*.wav")):
        audio, rate_hz = sf.read(path, dtype="float32", always_2d=True)
        mono = audio.mean(axis=1, keepdims=True)
        if rate_hz != sample_rate_hz:
            mono = resample(mono, rate_hz, sample_rate_hz)
        clips.append(_trim(mono[:, 0]))
    return clips


def _trim(x: np.ndarray, threshold_db: float = -50.0) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0.0:
        return x
    loud = np.nonzero(np.abs(x) > peak * 10.0 ** (threshold_db / 20.0))[0]
    return np.ascontiguousarray(x[loud[0] : loud[-1] + 1])


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
