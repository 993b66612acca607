"""Pick a package among snapshots by the AVC judge on *validation* pictures (seeds [555, i]), disjoint
from the bench's reported pictures ([777, i], [999, i]) and from the judge's own data (seeds 1, 3).

Run:  PYTHONPATH=. python training/picture/pick_snapshot.py JUDGES_DIR SNAPSHOT_DIR...
(JUDGES_DIR: the --judges folder of bench/bench_picture.py)
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_picture import AVC, _t  # noqa: E402

from engine.visual.procedural import SCENES, base_landscape, scene_sound  # noqa: E402
from engine.visual.stylize import restyle_frames, sound_condition  # noqa: E402
from engine.visual.train import load_stylizer  # noqa: E402


def main(judges: str, snapshots: list[str]) -> None:
    torch.set_num_threads(1)
    j = torch.load(Path(judges) / "judges.pt")
    for snap in snapshots:
        model = load_stylizer(snap)
        avc = AVC(model.config.n_mels)
        avc.load_state_dict(j["avc"])
        avc.eval()
        ps = []
        for i in range(24):
            rng = np.random.default_rng([555, i])
            x = (base_landscape(rng) * 255 + 0.5).astype(np.uint8)
            mel = sound_condition(model, scene_sound(SCENES[1 + i % 3], float(rng.uniform(0.5, 1.0)), 2.0, rng))
            with torch.no_grad():
                ps.append(torch.sigmoid(avc(_t(restyle_frames([x], mel, model)[0]), mel)).item())
        print(f"{snap}: validation AVC mean P(match) {statistics.mean(ps):.3f}, median {statistics.median(ps):.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
