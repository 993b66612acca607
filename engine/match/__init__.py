"""DSP scene-match engine, render side: synthetic room response, EQ, ambience bed, renderer."""

from engine.match.ambience_bed import AmbienceBed
from engine.match.eq import eq_filter
from engine.match.impulse_response import ImpulseResponse, synthesise_ir
from engine.match.renderer import MatchRenderer

__all__ = ["AmbienceBed", "ImpulseResponse", "MatchRenderer", "eq_filter", "synthesise_ir"]
