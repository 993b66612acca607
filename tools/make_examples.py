"""Builds the bundled examples: dry dialogue (real voice, BWF with timecode and scene/take) and a
reference clip of another talker in a room with ambience. Rerun to regenerate; seeded."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from engine.audio import AudioWriter, write_audio
from engine.kit.rooms import RoomConfig
from engine.kit.scene import SceneSpec, render_scene
from engine.kit.speech import alsa_voice

ROOT = Path(__file__).resolve().parents[1] / "examples"
RATE = 48000


def bext_chunk(description: str, originator: str, time_reference_samples: int) -> bytes:
    """A BWF v1 'bext' payload (EBU Tech 3285), as a recorder on set would write it."""
    return struct.pack(
        "<256s32s32s10s8sQH64s190s",
        description.encode(), originator.encode(), b"RT-EXAMPLE-0001", b"2026-11-25", b"10:00:00",
        time_reference_samples, 1, b"", b"",
    ) + b"A=PCM,F=48000,W=16,M=mono,T=example\r\n"


def ixml_chunk(scene: str, take: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<BWFXML><IXML_VERSION>1.61</IXML_VERSION>'
        f"<PROJECT>Roomtone example</PROJECT><SCENE>{scene}</SCENE><TAKE>{take}</TAKE>"
        "<SPEED><TIMECODE_RATE>24/1</TIMECODE_RATE><TIMECODE_FLAG>NDF</TIMECODE_FLAG></SPEED></BWFXML>\n"
    ).encode()


def main() -> None:
    voice = alsa_voice(RATE)  # real dry voice, one speaker
    dialogue = ROOT / "dialogue"
    for d in (dialogue / "pickups", ROOT / "reference"):
        d.mkdir(parents=True, exist_ok=True)
    chunks = {"bext": bext_chunk("Scene 12 take 3 ADR", "Roomtone", 10 * 3600 * RATE), "iXML": ixml_chunk("12", "3")}
    with AudioWriter(dialogue / "sc12_t03_adr.wav", sample_rate_hz=RATE, channels=1, subtype="PCM_16",
                     container="WAV", chunks=chunks) as w:
        w.write(voice)
    write_audio(dialogue / "pickups" / "sc14_line07.flac", voice[: int(4.5 * RATE)], RATE, subtype="PCM_24")

    spec = SceneSpec(
        room=RoomConfig(kind="shoebox", dims_m=(9.0, 7.0, 3.2), source_m=(3.0, 2.5, 1.6), mic_m=(6.0, 4.2, 1.7),
                        rt60_s=0.9),
        ambience="real:restaurant",
        snr_db=15.0,
        seed=7,
    )
    scene = render_scene(spec, 20.0, RATE, speaker="en+f2")  # another talker than the dialogue
    write_audio(ROOT / "reference" / "cafe_reference.flac", scene.mix, RATE, subtype="PCM_24")
    print("truth RT60 per octave band:", np.round(scene.rt60_band_s, 2), "DRR", round(scene.drr_db, 1))


if __name__ == "__main__":
    main()
