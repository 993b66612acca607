"""Export the stylizer package from a run's latest resumable state (a run stopped before its --steps).

Run:  PYTHONPATH=. python training/picture/export_state.py training/picture/run OUT_DIR
Prints the step the state is at.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.train.state import load_state
from engine.visual.model import VisualConfig
from engine.visual.train import PictureStage, PictureTrainConfig


def main(run: str, out: str) -> None:
    d = json.loads((Path(run) / "config.json").read_text())
    model = VisualConfig.from_dict(d.pop("model"))
    cfg = PictureTrainConfig(**{**d, "betas": tuple(d["betas"]), "model": model})
    stage = PictureStage(cfg)
    step, _extra = load_state(Path(run) / "state", stage.modules, stage.optimizers)
    stage.export(Path(out))
    print(f"{run}: state at step {step} exported to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
