"""Per-output metrics against a case's ground truth, all measured the same way for every system.

Why one measuring stick for all: the room (RT60, DRR) and the ambience (level, spectrum, texture)
of an output are estimated by deconvolution against the known dry input
(``engine.evaluation.deconvolution``), and the truth goes through the SAME estimator. Estimator
bias therefore cancels in the comparison and no system is favoured because it happens to expose
stems (the diffusion engine will not). The ambience of an output is ``output - input * h_est``:
whatever the dry input cannot linearly explain.

The speech itself is compared with the truth recording directly, three ways that each leave one
thing out on purpose: the gain-invariant log-mel distance ignores broadband level; the speech
long-term spectrum error (third octaves over the dry line's active frames, measured at 48 kHz so
the 10-20 kHz bands an EQ can ruin are seen) ignores level and time structure, leaving colour;
the STOI gap compares how clear the output is against the dry line with how clear the truth is
(> 0: too dry, < 0: too washed), so a system is not rewarded for clarity the scene does not have.
Outputs and the truth are sample-aligned with the dry input (kit RIRs put the direct sound at
sample 40, systems keep the input's timing), so no time alignment is searched for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.audio import resample
from engine.evaluation import perceptual, spectral
from engine.evaluation.cases import EvalCase
from engine.evaluation.deconvolution import deconvolve, room_estimate
from engine.evaluation.texture import TextureStats, texture_distance, texture_stats
from engine.kit.acoustics import OCTAVE_BANDS_HZ
from engine.kit.scene import speech_activity

ANALYSIS_RATE_HZ = 24000  # octave bands up to 8 kHz (upper edge 11.3 kHz) fit below Nyquist
RT60_BANDS_HZ: tuple[int, ...] = (250, 500, 1000, 2000, 4000)  # where dialogue carries energy
_RT60_BAND_INDEX = [OCTAVE_BANDS_HZ.index(b) for b in RT60_BANDS_HZ]
NO_DECAY_RT60_S = 0.0  # an output with no measurable decay (a dry signal) counts as RT60 0
AMBIENCE_RATIO_RANGE_DB = (-60.0, 20.0)  # ambience-to-speech ratios are clipped to this
DRR_RANGE_DB = (-30.0, 40.0)


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    higher_is_better: bool
    best_at_zero: bool = False  # signed metrics (the STOI gap): neither direction is better


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("logmel_db", "log-mel dist. (dB)", False),
    MetricSpec("logmel_gain_inv_db", "log-mel dist. gain-inv. (dB)", False),
    MetricSpec("speech_lts_err_db", "speech LTS err. (dB)", False),
    MetricSpec("rt60_err_pct", "RT60 err. (%)", False),
    MetricSpec("drr_err_db", "DRR err. (dB)", False),
    MetricSpec("amb_spectrum_db", "amb. spectrum dist. (dB)", False),
    MetricSpec("amb_level_err_db", "amb. level err. (dB)", False),
    MetricSpec("texture_dist", "texture dist.", False),
    MetricSpec("stoi", "STOI", True),
    MetricSpec("stoi_gap", "STOI gap vs dry (out - truth)", False, best_at_zero=True),
    MetricSpec("stoi_gap_abs", "abs. STOI gap", False),
    MetricSpec("speaker_sim", "speaker sim.", True),
    MetricSpec("dnsmos_ovrl", "DNSMOS OVRL", True),
    MetricSpec("retrieval_acc", "scene retrieval acc.", True),
)
PERCEPTUAL_KEYS = {
    "stoi": "stoi",
    "stoi_gap": "stoi",
    "stoi_gap_abs": "stoi",
    "speaker_sim": "speaker_similarity",
    "dnsmos_ovrl": "dnsmos_ovrl",
}


@dataclass
class SceneMeasures:
    """What the estimators see in one signal: its room, its ambience, its texture."""

    rt60_band_s: np.ndarray  # over OCTAVE_BANDS_HZ, NaN where unmeasurable
    drr_db: float
    ambience_ratio_db: float  # estimated ambience RMS vs active predicted-speech RMS
    ambience_levels_db: np.ndarray  # third-octave long-term spectrum of the ambience estimate
    texture: TextureStats

    def descriptor(self) -> dict[str, np.ndarray]:
        """Scene descriptor for retrieval, by group (see ``engine.evaluation.retrieval``)."""
        rt = np.nan_to_num(self.rt60_band_s[_RT60_BAND_INDEX], nan=0.05)
        shape = self.ambience_levels_db - np.mean(self.ambience_levels_db)
        octave_shape = shape[: 3 * (shape.size // 3)].reshape(-1, 3).mean(axis=1)
        return {
            "rt60": np.log2(np.maximum(rt, 0.05)),
            "drr": np.array([np.clip(self.drr_db, *DRR_RANGE_DB)]),
            "ambience_level": np.array([self.ambience_ratio_db]),
            "ambience_spectrum": octave_shape,
        }


@dataclass
class CaseTruth:
    """Everything about a case's truth that every system's output is compared with."""

    dry: np.ndarray  # 1-D at ANALYSIS_RATE_HZ
    active: np.ndarray  # speech activity of the dry input at ANALYSIS_RATE_HZ
    log_mel_db: np.ndarray
    measures: SceneMeasures
    active_native: np.ndarray  # speech activity of the dry input at the case's own rate
    speech_spectrum_db: np.ndarray  # truth's speech long-term spectrum, see spectral.speech_spectrum_db
    truth_16k: np.ndarray
    dry_16k: np.ndarray
    truth_stoi_vs_dry: float  # STOI of the truth with the dry line as reference; NaN without pystoi
    input_embedding: np.ndarray | None
    kit_rt60_band_s: np.ndarray  # the RIR's own truth, for the estimator check
    kit_drr_db: float


@dataclass
class OutputMeasures:
    values: dict[str, float]
    measures: SceneMeasures
    extra: dict = field(default_factory=dict)


def prepare_truth(case: EvalCase, available: dict[str, str]) -> CaseTruth:
    """Measure the truth once per case (and embed the input once) for all systems."""
    sr = case.sample_rate_hz
    dry = _analysis_mono(case.dry, sr)
    active = speech_activity(dry, ANALYSIS_RATE_HZ)
    truth = _analysis_mono(case.truth.mix, sr)
    active_native = speech_activity(_native_mono(case.dry), sr)
    truth_16k = perceptual.to_perceptual_rate(case.truth.mix, sr)
    dry_16k = perceptual.to_perceptual_rate(case.dry, sr)
    embedding = None
    if not available.get("speaker_similarity"):
        embedding = perceptual.speaker_embedding(dry_16k)
    return CaseTruth(
        dry=dry,
        active=active,
        log_mel_db=spectral.log_mel_db(truth, ANALYSIS_RATE_HZ),
        measures=scene_measures(dry, truth, active),
        active_native=active_native,
        speech_spectrum_db=spectral.speech_spectrum_db(_native_mono(case.truth.mix), sr, active_native),
        truth_16k=truth_16k,
        dry_16k=dry_16k,
        truth_stoi_vs_dry=float("nan") if available.get("stoi") else perceptual.stoi(dry_16k, truth_16k),
        input_embedding=embedding,
        kit_rt60_band_s=np.asarray(case.truth.rt60_band_s, dtype=np.float64),
        kit_drr_db=float(case.truth.drr_db),
    )


def scene_measures(dry: np.ndarray, output: np.ndarray, active: np.ndarray) -> SceneMeasures:
    """Room and ambience of ``output`` by deconvolution against ``dry`` (both at the analysis rate)."""
    d = deconvolve(dry, output, ANALYSIS_RATE_HZ)
    room = room_estimate(d)
    ambience = output[: d.predicted.size] - d.predicted
    speech_rms = _rms(d.predicted[: active.size][active[: d.predicted.size]])
    amb_rms = _rms(ambience)
    ratio = 20.0 * np.log10(max(amb_rms, 1e-12) / max(speech_rms, 1e-12))
    return SceneMeasures(
        rt60_band_s=room.rt60_band_s,
        drr_db=float(room.drr_db),
        ambience_ratio_db=float(np.clip(ratio, *AMBIENCE_RATIO_RANGE_DB)),
        ambience_levels_db=spectral.third_octave_levels_db(ambience + 1e-9, ANALYSIS_RATE_HZ),
        texture=texture_stats(ambience, ANALYSIS_RATE_HZ),
    )


def measure_output(case: EvalCase, truth: CaseTruth, audio: np.ndarray, available: dict[str, str]) -> OutputMeasures:
    """All per-output metrics except retrieval (which needs every case; see ``retrieval``)."""
    sr = case.sample_rate_hz
    out = _analysis_mono(audio, sr)
    m = scene_measures(truth.dry, out, truth.active)
    t = truth.measures
    out_log_mel_db = spectral.log_mel_db(out, ANALYSIS_RATE_HZ)
    out_spectrum_db = spectral.speech_spectrum_db(_native_mono(audio), sr, truth.active_native)
    values: dict[str, float] = {
        "logmel_db": spectral.log_mel_distance_db(out_log_mel_db, truth.log_mel_db),
        "logmel_gain_inv_db": spectral.log_mel_distance_gain_invariant_db(out_log_mel_db, truth.log_mel_db),
        "speech_lts_err_db": spectral.speech_spectrum_error_db(out_spectrum_db, truth.speech_spectrum_db),
        "rt60_err_pct": rt60_error_pct(m.rt60_band_s, t.rt60_band_s),
        "drr_err_db": abs(float(np.clip(m.drr_db, *DRR_RANGE_DB)) - float(np.clip(t.drr_db, *DRR_RANGE_DB))),
        "amb_spectrum_db": spectral.spectrum_shape_distance_db(m.ambience_levels_db, t.ambience_levels_db),
        "amb_level_err_db": abs(m.ambience_ratio_db - t.ambience_ratio_db),
        "texture_dist": texture_distance(m.texture, t.texture),
    }
    out_16k = perceptual.to_perceptual_rate(audio, sr)
    if not available.get("stoi"):
        values["stoi"] = perceptual.stoi(truth.truth_16k, out_16k)
        gap = stoi_gap(perceptual.stoi(truth.dry_16k, out_16k), truth.truth_stoi_vs_dry)
        values["stoi_gap"], values["stoi_gap_abs"] = gap, abs(gap)
    if not available.get("speaker_similarity") and truth.input_embedding is not None:
        values["speaker_sim"] = perceptual.cosine(truth.input_embedding, perceptual.speaker_embedding(out_16k))
    if not available.get("dnsmos_ovrl"):
        values["dnsmos_ovrl"] = perceptual.dnsmos_overall(out_16k)
    return OutputMeasures(values, m)


def rt60_error_pct(estimate_s: np.ndarray, truth_s: np.ndarray) -> float:
    """Mean absolute relative RT60 error over ``RT60_BANDS_HZ`` (%); bands the truth lacks are skipped."""
    est = np.nan_to_num(np.asarray(estimate_s)[_RT60_BAND_INDEX], nan=NO_DECAY_RT60_S)
    ref = np.asarray(truth_s)[_RT60_BAND_INDEX]
    ok = np.isfinite(ref) & (ref > 0)
    if not np.any(ok):
        return float("nan")
    return float(100.0 * np.mean(np.abs(est[ok] - ref[ok]) / ref[ok]))


def stoi_gap(output_stoi_vs_dry: float, truth_stoi_vs_dry: float) -> float:
    """STOI of the output minus STOI of the truth, both against the dry line.

    > 0: the output is clearer than the scene really is (too dry, too close); < 0: more washed
    out (too much reverberation or ambience). 0 is right, whatever the scene's own clarity.
    """
    return float(output_stoi_vs_dry - truth_stoi_vs_dry)


def _native_mono(x: np.ndarray) -> np.ndarray:
    """First channel as float64 at the signal's own rate (like ``_analysis_mono``, not resampled)."""
    a = np.asarray(x, dtype=np.float64)
    return a[:, 0] if a.ndim == 2 else a


def _analysis_mono(x: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    a = a[:, None] if a.ndim == 1 else a[:, :1]
    if sample_rate_hz != ANALYSIS_RATE_HZ:
        a = resample(a, sample_rate_hz, ANALYSIS_RATE_HZ)
    return a[:, 0].astype(np.float64)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
