"""A scene preset in words: one wording for the CLI and the desktop app.

An editor compares what the terminal and the app say about the same preset, so both ask here
(the app once said "RT60 0.31 s · ambience −6 LU" where the CLI said "RT60(1k) 0.28 s, ambience
-5.9 dB" for one preset). Works on anything shaped like presets.ScenePreset (a `profile` with
bands_hz, rt60_s, drr_db, ambience_to_speech_db, and a `source` dict).
"""

from __future__ import annotations

#: What the ambience level is measured against, said wherever the number is shown.
AMBIENCE_REFERENCE = "re speech loudness"
RT60_BAND_HZ = 1000.0


def rt60_s(profile) -> float:
    """RT60 in the octave band at 1 kHz (the nearest band when a profile has no 1 kHz band)."""
    bands = list(profile.bands_hz)
    i = min(range(len(bands)), key=lambda k: abs(bands[k] - RT60_BAND_HZ))
    return float(profile.rt60_s[i])


def rt60_text(profile) -> str:
    return f"RT60 {rt60_s(profile):.2f} s at 1 kHz"


def drr_text(profile) -> str:
    return f"DRR {profile.drr_db:+.1f} dB"


def ambience_text(profile) -> str:
    """The bed's loudness relative to the dialogue's (BS.1770; 1 LU = 1 dB)."""
    return f"ambience {profile.ambience_to_speech_db:+.1f} dB {AMBIENCE_REFERENCE}"


def estimator(preset) -> str | None:
    """Which analysis made the preset ('dsp', or a learned estimator's id), when it says."""
    source = getattr(preset, "source", None)
    analysis = source.get("analysis") if isinstance(source, dict) else None
    name = analysis.get("estimator") if isinstance(analysis, dict) else None
    return str(name) if name else None


def preset_summary(preset) -> str:
    """'RT60 0.28 s at 1 kHz, DRR +3.0 dB, ambience -5.9 dB re speech loudness, estimator dsp'."""
    p = preset.profile
    parts = [rt60_text(p), drr_text(p), ambience_text(p)]
    made_by = estimator(preset)
    if made_by:
        parts.append(f"estimator {made_by}")
    return ", ".join(parts)
