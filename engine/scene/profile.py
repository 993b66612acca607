"""The scene profile: everything the match engine needs to know about a scene, as plain numbers.

It is the contract between analysis (which estimates it from a reference clip) and rendering
(which re-creates it on dry dialogue), and it is stored inside presets as JSON, so it holds only
finite floats in fixed bands and validates itself on load.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from engine.errors import PresetError

OCTAVE_BANDS_HZ: tuple[float, ...] = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
THIRD_OCTAVE_BANDS_HZ: tuple[float, ...] = tuple(
    round(1000.0 * 2.0 ** (k / 3.0), 1) for k in range(-14, 15)
)  # 40 Hz .. 25 kHz; bands above a signal's Nyquist are extrapolated by the analyser
MODULATION_BANDS_HZ: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)  # texture's envelope bands

# Physical plausibility bounds: a value outside them is a corrupt preset, not a real scene.
RT60_RANGE_S = (0.05, 12.0)
DB_RANGE = (-120.0, 60.0)
BAND_RANGE_HZ = (10.0, 50000.0)
SAMPLE_RATE_RANGE_HZ = (8000, 384000)


@dataclass(frozen=True)
class AmbienceTexture:
    """Sound-texture statistics of the ambience (after McDermott & Simoncelli), per octave band.

    The bed synthesiser uses them to pick grains whose fluctuation matches the scene (steady hum
    versus sparse events), and evaluation compares them.
    """

    envelope_mean_db: tuple[float, ...]  # mean sub-band envelope level per OCTAVE_BANDS_HZ band
    envelope_std_db: tuple[float, ...]  # envelope fluctuation per band (dB)
    envelope_skew: tuple[float, ...]  # >0 for sparse, eventful textures (rain drops, clatter)
    modulation_power_db: tuple[float, ...]  # envelope modulation power in octave mod bands 0.5..64 Hz

    def validate(self, bands: int) -> None:
        """One value per acoustic band (per modulation band for the power), levels in DB_RANGE."""
        for name, n in (("envelope_mean_db", bands), ("envelope_std_db", bands), ("envelope_skew", bands),
                        ("modulation_power_db", len(MODULATION_BANDS_HZ))):
            values = getattr(self, name)
            if len(values) != n:
                raise PresetError(f"texture {name} has {len(values)} values for {n} bands")
            if not all(DB_RANGE[0] <= v <= DB_RANGE[1] for v in values):
                raise PresetError(f"texture {name} holds a value outside {DB_RANGE}")
        if min(self.envelope_std_db) < 0.0:
            raise PresetError("texture envelope_std_db holds a negative spread")


@dataclass(frozen=True)
class SceneProfile:
    """Room and ambience of one scene, estimated blindly from a reference recording."""

    rt60_s: tuple[float, ...]  # reverberation time per OCTAVE_BANDS_HZ band
    drr_db: float  # direct-to-reverberant energy ratio of the speech in the reference
    eq_gain_db: tuple[float, ...]  # colouration per THIRD_OCTAVE_BANDS_HZ band (0 = neutral)
    ambience_spectrum_db: tuple[float, ...]  # ambience long-term level per THIRD_OCTAVE band
    ambience_to_speech_db: float  # ambience loudness minus speech loudness (LU)
    speech_loudness_lufs: float  # loudness of the reference's speech, for information
    reference_sample_rate_hz: int  # bands above its Nyquist were extrapolated
    texture: AmbienceTexture | None = None
    # clarity of the room response (early 50 ms incl. direct vs the rest); None: what the DRR and
    # an exponential tail imply (presets made before the learned estimator delivered it)
    c50_db: float | None = None
    bands_hz: tuple[float, ...] = field(default=OCTAVE_BANDS_HZ)
    eq_bands_hz: tuple[float, ...] = field(default=THIRD_OCTAVE_BANDS_HZ)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SceneProfile":
        """Rebuild and validate; every problem raises PresetError naming the field.

        Each field is converted to what the DSP uses (a float, an int, a tuple of floats) and checked
        after that conversion, so a list where a number belongs (or the reverse) is an error line here,
        not a TypeError in whatever reads the profile next.
        """
        if not isinstance(data, dict):
            raise PresetError("scene profile must be a JSON object")
        data = dict(data)
        texture = data.pop("texture", None)
        known = set(cls.__dataclass_fields__) - {"texture"}
        missing = [k for k in known if k not in data and k not in ("bands_hz", "eq_bands_hz", "c50_db")]
        if missing:
            raise PresetError(f"scene profile is missing field(s): {', '.join(sorted(missing))}")
        unknown = set(data) - known
        if unknown:
            raise PresetError(f"scene profile has unknown field(s): {', '.join(sorted(unknown))}")
        kwargs: dict = {}
        for name, value in data.items():
            if name in _VECTOR_FIELDS:
                kwargs[name] = _numbers(f"profile.{name}", value)
            elif name == "reference_sample_rate_hz":
                kwargs[name] = _integer(f"profile.{name}", value)
            elif name == "c50_db" and value is None:
                kwargs[name] = None
            else:
                kwargs[name] = finite_number(f"profile.{name}", value)
        if texture is not None:
            fields = set(AmbienceTexture.__dataclass_fields__)
            if not isinstance(texture, dict) or set(texture) != fields:
                raise PresetError(f"scene profile texture must be an object with exactly {', '.join(sorted(fields))}")
            kwargs["texture"] = AmbienceTexture(**{k: _numbers(f"profile.texture.{k}", texture[k]) for k in texture})
        profile = cls(**kwargs)
        profile.validate()
        return profile

    def validate(self) -> None:
        """Reject sizes and values no real scene has, so a corrupt file can't reach the DSP."""
        _check_bands("bands_hz", self.bands_hz, 16)
        _check_bands("eq_bands_hz", self.eq_bands_hz, 64)
        if len(self.bands_hz) != len(self.rt60_s):
            raise PresetError(f"rt60_s has {len(self.rt60_s)} values for {len(self.bands_hz)} bands")
        for name, values, bands in (
            ("eq_gain_db", self.eq_gain_db, self.eq_bands_hz),
            ("ambience_spectrum_db", self.ambience_spectrum_db, self.eq_bands_hz),
        ):
            if len(values) != len(bands):
                raise PresetError(f"{name} has {len(values)} values for {len(bands)} bands")
        for t in self.rt60_s:
            if not RT60_RANGE_S[0] <= t <= RT60_RANGE_S[1]:
                raise PresetError(f"reverberation time {t} s is outside {RT60_RANGE_S} s")
        for name in ("drr_db", "ambience_to_speech_db", "speech_loudness_lufs", "c50_db"):
            v = getattr(self, name)
            if v is None and name == "c50_db":
                continue
            if not DB_RANGE[0] <= v <= DB_RANGE[1]:
                raise PresetError(f"{name} = {v} is outside {DB_RANGE}")
        for name in ("eq_gain_db", "ambience_spectrum_db"):
            for v in getattr(self, name):
                if not DB_RANGE[0] <= v <= DB_RANGE[1]:
                    raise PresetError(f"{name} value {v} is outside {DB_RANGE}")
        lo, hi = SAMPLE_RATE_RANGE_HZ
        if not lo <= self.reference_sample_rate_hz <= hi:
            raise PresetError(f"reference_sample_rate_hz {self.reference_sample_rate_hz} is outside {lo}-{hi} Hz")
        if self.texture is not None:
            self.texture.validate(len(self.bands_hz))


_VECTOR_FIELDS = ("rt60_s", "eq_gain_db", "ambience_spectrum_db", "bands_hz", "eq_bands_hz")
MAX_VALUES = 64  # no field of a profile holds more numbers than the third-octave bands


def _numbers(name: str, value: object) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise PresetError(f"{name} must be a list of numbers, got {type(value).__name__}")
    if len(value) > MAX_VALUES:
        raise PresetError(f"{name} has {len(value)} values (at most {MAX_VALUES})")
    return tuple(finite_number(name, v) for v in value)


def _integer(name: str, value: object) -> int:
    v = finite_number(name, value)
    if not v.is_integer():
        raise PresetError(f"{name} must be a whole number, got {v}")
    return int(v)


def finite_number(name: str, value: object) -> float:
    """`value` as the float it is used as, or a PresetError naming `name` (a bool is no number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PresetError(f"{name} must be a number, got {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:  # a JSON integer of hundreds of digits
        v = math.inf
    if not math.isfinite(v):
        raise PresetError(f"{name} is not a finite number ({v})")
    return v


def _check_bands(name: str, bands: tuple[float, ...], most: int) -> None:
    """Centre frequencies the filters are designed at: positive, audible, strictly increasing."""
    if not 1 <= len(bands) <= most:
        raise PresetError(f"{name} has {len(bands)} bands (expected 1 to {most})")
    lo, hi = BAND_RANGE_HZ
    if not all(lo <= b <= hi for b in bands) or any(b >= c for b, c in zip(bands, bands[1:])):
        raise PresetError(f"{name} must be increasing frequencies between {lo:g} and {hi:g} Hz")
