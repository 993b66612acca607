"""Blind analysis of a reference clip into a SceneProfile and its audio excerpts.

Two estimators stand behind this one call, and the profile records which made it: the learned
scene estimator (``engine.scene.estimator``, the default where its package ships) gives per-band
RT60, DRR, the room response and the ambience level with an uncertainty each; each is weighed against its DSP twin below
by their precisions, so where the network is unsure the DSP value stands (and it stands alone
when ``estimator='dsp'``).

Stages (each reported through ``progress`` and preceded by a cancellation check):
DeepFilterNet speech separation of at most ~12 s spread over the clip (in the background), VAD
on the whole clip, per-band RT60 and DRR from free decays of the MIX (measured better than on the separated speech:
DeepFilterNet3 removes much of the reverberant tail, see ``reverb``), speech colouration EQ
from the separated speech, ambience excerpt, spectrum and texture.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, replace

import numpy as np

from engine.audio.loudness import LOUDNESS_FLOOR_LUFS, integrated_loudness
from engine.errors import AnalysisError
from engine.progress import CancelToken, ProgressCallback, ProgressEvent, report
from engine.scene import colouration, excerpt, reverb, separation, spectrum, vad
from engine.scene.bands import stft_params
from engine.scene.profile import OCTAVE_BANDS_HZ, RT60_RANGE_S, THIRD_OCTAVE_BANDS_HZ, SceneProfile

MIN_DURATION_S = 3.0
SILENCE_DBFS = -70.0
MAX_SEPARATED_S = 12.0


# Typical errors of the DSP estimates: each network estimate is weighed against its DSP twin by
# their precisions (inverse variances), so a sure network wins and an unsure one barely moves the
# DSP value. Set on training-family scenes only, never on the held-out bench: 59 bench scenes
# (`bench/tune_fusion.py`) gave the lowest median error at DRR 8 dB (3.0 dB) and ambience 8 dB
# (2.4 dB; 2 dB gave 2.7); RT60 tied at 0.3 and 0.5 (12 %), and 0.3 read the 40 kit-room cases of
# `bench/eval_match.py` better (mean 40 % vs 47 %).
DSP_RT60_STD_LOG = 0.3
DSP_DRR_STD_DB = 8.0
DSP_AMBIENCE_STD_DB = 8.0
C50_RANGE_DB = (-20.0, 40.0)  # the corpus truth's clip range


@dataclass
class SceneAnalysis:
    profile: SceneProfile
    ambience_excerpt: np.ndarray  # (n, ch) float32, ch = 1 or 2, at excerpt_sample_rate_hz
    reference_excerpt: np.ndarray  # (n, 1) float32 speech-rich excerpt of the original mix
    excerpt_sample_rate_hz: int  # the reference's own rate (full band)
    speech_fraction: float  # share of the clip the VAD marked as speech
    estimator: str = "dsp"  # "dsp", or the id of the learned estimator's package
    scene_embedding: np.ndarray | None = None  # the learned estimator's embedding of the scene
    learned_fields: tuple[str, ...] = ()  # which profile fields the learned estimator supplied


def _stage(progress: ProgressCallback | None, cancel: CancelToken | None, fraction: float, message: str) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()
    report(progress, ProgressEvent("stage", fraction=fraction, file_fraction=fraction, message=message))


def _validate(audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] < 1:
        raise AnalysisError(f"expected audio shaped (frames, channels), got {a.shape}")
    if not 8000 <= int(sample_rate_hz) <= 384000:
        raise AnalysisError(f"sample rate {sample_rate_hz} Hz is not supported (16-192 kHz expected)")
    duration_s = a.shape[0] / sample_rate_hz
    if duration_s < MIN_DURATION_S:
        raise AnalysisError(
            f"the reference is {duration_s:.1f} s long; at least {MIN_DURATION_S:.0f} s of speech in the "
            "scene are needed (10-60 s with pauses between lines works best)"
        )
    if not np.all(np.isfinite(a)):
        raise AnalysisError("the reference contains NaN or infinite samples; re-export it from the editor")
    a = a.astype(np.float32, copy=False)
    rms = float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))
    if rms <= 10 ** (SILENCE_DBFS / 20):
        raise AnalysisError("the reference is silent; choose a clip where someone speaks in the scene")
    return a[:, :2] if a.shape[1] > 2 else a


def analyse_reference(
    audio: np.ndarray,
    sample_rate_hz: int,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    estimator: str = "auto",
) -> SceneAnalysis:
    """Estimate the scene (room, colour, ambience) of a reference clip of dialogue in its scene.

    ``estimator``: "auto" (the shipped learned estimator where installed, else DSP), "dsp", or
    the folder of a scene-estimator package. Raises AnalysisError with a user-facing reason for
    clips that cannot be analysed.
    """
    sr = int(sample_rate_hz)
    a = _validate(audio, sr)
    net = _estimator(estimator)
    mono = a.mean(axis=1)
    duration_s = a.shape[0] / sr

    # Separation (2 DF threads, GIL released) runs while this thread does VAD and reverb: the
    # three overlap on 2 cores, saving ~0.5 s of a 60 s analysis.
    _stage(progress, cancel, 0.02, "separating speech")
    inner = CancelToken()
    pool = ThreadPoolExecutor(max_workers=1)
    sep_future = pool.submit(separation.separate, mono, sr, MAX_SEPARATED_S, cancel=inner)
    try:
        _stage(progress, cancel, 0.1, "detecting speech")
        segments = vad.reference_speech_segments(mono, sr)
        if not segments:
            raise AnalysisError(
                "no speech was detected in the reference, so its reverberation and direct-to-reverberant "
                "ratio cannot be estimated; choose a clip where someone speaks in the scene"
            )
        speech_fraction = float(min(1.0, vad.total_speech_s(segments) / duration_s))

        _stage(progress, cancel, 0.3, "measuring reverberation")
        rt60, drr = measure_reverb(mono, sr)

        _stage(progress, cancel, 0.5, "separating speech")
        while True:
            try:
                sep = sep_future.result(timeout=0.1)
                break
            except FuturesTimeout:
                if cancel is not None and cancel.cancelled:
                    inner.cancel()
                    cancel.raise_if_cancelled()
    except BaseException:
        inner.cancel()
        raise
    finally:
        pool.shutdown(wait=True)

    _stage(progress, cancel, 0.75, "measuring speech colour")
    win, hop = stft_params(sr)
    speech_all = np.concatenate(sep.speech)
    frame_mask = np.concatenate(
        [vad.speech_mask(segments, a.shape[0], sr)[w.start : w.stop] for w in sep.windows]
    )[::hop]
    speech_levels = spectrum.third_octave_levels_db(speech_all, sr, frame_mask)
    learned = net.estimate(mono, sr) if net is not None else None
    used: list[str] = []
    if learned is not None:
        rt60, drr, used = _merge_room(learned, rt60, drr)

    _stage(progress, cancel, 0.85, "extracting ambience")
    mid_rt60 = float(np.mean(rt60[2:4]))
    amb, _source = excerpt.ambience_excerpt(a, sr, segments, mid_rt60, sep)
    amb_mono = amb.mean(axis=1)
    amb_levels = spectrum.third_octave_levels_db(amb_mono, sr)
    texture = spectrum.ambience_texture(amb_mono, sr)
    amb_lufs = integrated_loudness(amb, sr)

    speech_mix = np.concatenate(
        [mono[int(s.start_s * sr) : int(s.end_s * sr)] for s in segments]
    )[:, None]
    mix_lufs = integrated_loudness(speech_mix, sr)
    speech_lufs = _power_minus(mix_lufs, amb_lufs)
    amb_to_speech = float(np.clip(amb_lufs - speech_lufs, -100.0, 50.0))
    if learned is not None:
        m, s = learned.get("amb_to_speech")
        m = m[0] + _downmix_loss_db(amb)
        amb_to_speech = float(np.clip(_weigh(m, s[0], amb_to_speech, DSP_AMBIENCE_STD_DB), -100.0, 50.0))
        used.append("ambience_to_speech_db")

    profile = SceneProfile(
        rt60_s=tuple(float(v) for v in rt60),
        drr_db=drr,
        eq_gain_db=(0.0,) * len(THIRD_OCTAVE_BANDS_HZ),
        ambience_spectrum_db=tuple(float(v) for v in amb_levels),
        ambience_to_speech_db=amb_to_speech,
        speech_loudness_lufs=float(speech_lufs),
        reference_sample_rate_hz=sr,
        texture=texture,
    )
    if learned is not None:
        # The network's clarity is read well (its C50 tracks the truth within a few dB where its
        # DRR does not), and it says where the reverberant energy sits: early (helps the words) or late.
        profile = replace(profile, c50_db=float(np.clip(learned.get("c50")[0][0], C50_RANGE_DB[0], C50_RANGE_DB[1])))
        used.append("c50_db")
        # Without the network the EQ stays neutral: the old talker-spectrum EQ measured worse than none.
        response, response_std = learned.get("resp_")
        eq = colouration.room_eq_db(response, response_std, colouration.supported_bands(speech_levels, sr),
                                    colouration.synthesised_response_db(profile))
        profile = replace(profile, eq_gain_db=tuple(float(v) for v in eq))
        used.append("eq_gain_db")
    profile.validate()
    ref = excerpt.reference_excerpt(mono, sr, segments)
    _stage(progress, cancel, 1.0, "analysis done")
    return SceneAnalysis(
        profile, amb, ref, sr, speech_fraction,
        estimator=learned.checkpoint_id if learned is not None else "dsp",
        scene_embedding=learned.embedding if learned is not None else None,
        learned_fields=tuple(used),
    )


def _estimator(choice: str):
    """The learned estimator to use, or None for DSP only (see ``analyse_reference``)."""
    from engine.scene import estimator as est

    if choice == "dsp":
        return None
    if choice == "auto":
        return est.load_estimator() if est.shipped_available() else None
    try:
        return est.load_estimator(choice)
    except FileNotFoundError as exc:
        raise AnalysisError(str(exc)) from None


def _weigh(learned_mean, learned_std, dsp_value, dsp_std):
    """Precision-weighted mean of the network's and the DSP's estimate (see DSP_*_STD)."""
    w = dsp_std**2 / (dsp_std**2 + np.square(learned_std))
    return w * learned_mean + (1.0 - w) * dsp_value


def _merge_room(learned, rt60_dsp: np.ndarray, drr_dsp: float) -> tuple[np.ndarray, float, list[str]]:
    """Per band RT60 (in log seconds) and the DRR, each the network's and the DSP's weighed."""
    m, s = learned.get("rt60_")
    rt = np.exp(_weigh(m, s, np.log(rt60_dsp), DSP_RT60_STD_LOG))
    rt = np.clip(rt, RT60_RANGE_S[0], RT60_RANGE_S[1])
    dm, ds = learned.get("drr")
    drr = float(np.clip(_weigh(dm[0], ds[0], drr_dsp, DSP_DRR_STD_DB), -30.0, 30.0))
    return rt, drr, ["rt60_s", "drr_db"]


def measure_reverb(mono: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """(RT60 per octave band in s, broadband DRR in dB) of a mono clip, as analyse() stores them:
    empty bands filled from their neighbours, RT60 clamped to RT60_RANGE_S, DRR to +-30 dB (0 when
    it cannot be measured). Raises AnalysisError when the clip has no free decays."""
    bands = reverb.band_decays(mono, sr, OCTAVE_BANDS_HZ)
    rt60 = _fill_bands(np.array([b.rt60_s for b in bands]))
    drr = reverb.broadband_drr_db(bands, sr)
    return rt60, float(np.clip(drr, -30.0, 30.0)) if np.isfinite(drr) else 0.0


def _fill_bands(rt60: np.ndarray) -> np.ndarray:
    """Bands without enough decays (weak speech energy, above Nyquist) take their neighbours'
    values: room decay varies smoothly with frequency, so this is the least-surprising guess."""
    ok = np.isfinite(rt60)
    if not ok.any():
        raise AnalysisError(
            "no free decays of speech were found, so the reverberation cannot be measured; "
            "use a clip with pauses between lines (not music or continuous talk under loud noise)"
        )
    idx = np.arange(rt60.size)
    filled = np.interp(idx, idx[ok], rt60[ok])
    return np.clip(filled, RT60_RANGE_S[0], RT60_RANGE_S[1])


def _downmix_loss_db(ambience: np.ndarray) -> float:
    """How much quieter the ambience is, relative to a centred talker, in the mono downmix the
    network hears than in the clip itself: a decorrelated stereo bed loses 3 dB in the channel
    mean where the talker (the same on every channel) loses nothing. 0 for mono clips."""
    ch = ambience.shape[1]
    if ch == 1:
        return 0.0
    x = ambience.astype(np.float64)
    summed = float(np.sum(np.mean(x**2, axis=0)))
    downmix = float(np.mean(np.mean(x, axis=1) ** 2)) * ch
    if downmix <= 0.0 or summed <= 0.0:
        return 0.0
    return float(10 * np.log10(summed / downmix))


def _power_minus(total_lufs: float, part_lufs: float) -> float:
    """Loudness of (total - part) energy: the speech alone, with the ambience under it removed."""
    if total_lufs <= LOUDNESS_FLOOR_LUFS:
        return LOUDNESS_FLOOR_LUFS
    diff = 10 ** (total_lufs / 10) - 10 ** (part_lufs / 10)
    if diff <= 10 ** ((total_lufs - 10.0) / 10):
        return total_lufs - 10.0  # ambience about as loud as the mix: speech unresolvable below this
    return float(10 * np.log10(diff))
