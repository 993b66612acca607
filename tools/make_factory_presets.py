"""Builds the shipped factory presets with our own tools: each is a synthetic reference recording
(scene kit: a room, a talker, a real or procedural ambience) analysed exactly as a user's clip
would be. The kit's ground truth is kept in the preset's `source` so anyone can see how close
the blind analysis came. Seeded; rerun to regenerate `presets/factory/`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.audio import write_audio
from engine.kit.rooms import RoomConfig
from engine.kit.scene import SceneSpec, render_scene
from presets import FACTORY_DIR, preset_from_reference, save_preset

RATE = 48000
SECONDS = 40.0

SCENES: dict[str, tuple[str, SceneSpec, str]] = {
    "treated-booth": ("Treated Booth", SceneSpec(
        RoomConfig(dims_m=(3.6, 3.0, 2.6), source_m=(1.2, 1.5, 1.5), mic_m=(1.9, 1.6, 1.6), rt60_s=0.22),
        "proc:hvac", 38.0, 11), "en+m3"),
    "restaurant": ("Restaurant", SceneSpec(
        RoomConfig(dims_m=(12.0, 9.0, 3.6), source_m=(4.0, 3.0, 1.5), mic_m=(5.2, 4.1, 1.7), rt60_s=0.8,
                   rt60_band_scale=(1.2, 1.1, 1.0, 1.0, 0.9, 0.8, 0.65)),
        "real:restaurant", 10.0, 12), "en+f3"),
    "stone-church": ("Stone Church", SceneSpec(
        RoomConfig(dims_m=(32.0, 18.0, 15.0), source_m=(10.0, 9.0, 1.7), mic_m=(14.0, 8.0, 1.6), rt60_s=4.5,
                   rt60_band_scale=(1.25, 1.15, 1.05, 1.0, 0.85, 0.7, 0.5)),
        "proc:wind", 34.0, 13), "en+m2"),
    "rainy-street": ("Rainy Street", SceneSpec(
        RoomConfig(kind="outdoor", dims_m=(20.0, 12.0, 8.0), source_m=(8.0, 6.0, 1.6), mic_m=(9.5, 6.5, 1.7),
                   rt60_s=0.3),
        "real:rain", 8.0, 14), "en+f2"),
    "riverside": ("Riverside", SceneSpec(
        RoomConfig(kind="outdoor", dims_m=(30.0, 20.0, 10.0), source_m=(10.0, 10.0, 1.6), mic_m=(11.0, 10.8, 1.7),
                   rt60_s=0.3),
        "real:river", 12.0, 15), "en+m4"),
    "machine-room": ("Machine Room", SceneSpec(
        RoomConfig(dims_m=(10.0, 8.0, 5.0), source_m=(3.0, 3.0, 1.6), mic_m=(4.5, 4.0, 1.7), rt60_s=1.4,
                   rt60_band_scale=(1.1, 1.05, 1.0, 1.0, 0.95, 0.85, 0.7)),
        "real:machine", 6.0, 16), "en+f4"),
}


def main() -> None:
    for slug, (name, spec, voice) in SCENES.items():
        scene = render_scene(spec, SECONDS, RATE, speaker=voice)
        with tempfile.TemporaryDirectory() as tmp:
            ref = Path(tmp) / f"{slug}.flac"
            write_audio(ref, scene.mix, RATE, subtype="PCM_24")
            preset = preset_from_reference(name, ref)
        truth = {
            "rt60_s": [round(float(t), 3) for t in scene.rt60_band_s],
            "drr_db": round(float(scene.drr_db), 2),
            "snr_db": spec.snr_db,
            "ambience": spec.ambience,
            "room": spec.room.kind,
            "voice": voice,
        }
        preset = replace(preset, id=slug, source={**preset.source, "kind": "factory", "kit_truth": truth})
        folder = FACTORY_DIR / slug
        shutil.rmtree(folder, ignore_errors=True)
        save_preset(preset, folder)
        est = np.round(preset.profile.rt60_s, 2)
        print(f"{name:14s} RT60 truth {np.round(scene.rt60_band_s, 2)}\n{'':14s} RT60 est.  {est}  "
              f"DRR truth {scene.drr_db:+.1f} est. {preset.profile.drr_db:+.1f}")


if __name__ == "__main__":
    main()
