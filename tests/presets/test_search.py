"""Presets compared by scene embedding: two takes of one room are nearer than another room."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from engine.kit.rooms import RoomConfig
from engine.kit.scene import SceneSpec, render_scene
from presets import preset_from_reference
from presets.search import scene_embedding, similar_presets


def _preset(tmp_path, name, spec, voice):
    mix = render_scene(spec, 14.0, 48000, speaker=voice).mix
    path = tmp_path / f"{name}.flac"
    sf.write(path, mix, 48000, subtype="PCM_24")
    return preset_from_reference(name, path)


def test_same_room_other_talker_is_the_nearest_scene(tmp_path) -> None:
    hall = RoomConfig(dims_m=(30.0, 18.0, 14.0), source_m=(10.0, 9.0, 1.7), mic_m=(14.0, 8.0, 1.6), rt60_s=3.5)
    booth = RoomConfig(dims_m=(3.0, 2.6, 2.4), source_m=(1.0, 1.2, 1.5), mic_m=(1.5, 1.3, 1.6), rt60_s=0.2)
    hall_a = _preset(tmp_path, "Hall A", SceneSpec(hall, "proc:wind", 25.0, 1), "en+m3")
    hall_b = _preset(tmp_path, "Hall B", SceneSpec(hall, "proc:wind", 25.0, 2), "en+f2")
    small = _preset(tmp_path, "Booth", SceneSpec(booth, "proc:hvac", 30.0, 3), "en+f2")
    ranked = similar_presets(hall_a, [hall_b, small, hall_a])
    assert [p.name for p, _ in ranked] == ["Hall B", "Booth"]
    assert 0.0 <= ranked[0][1] < ranked[1][1]
    est, v = scene_embedding(hall_a)
    assert est.startswith("scene-") and np.isclose(np.linalg.norm(v), 1.0)
