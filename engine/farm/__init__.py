"""The render farm: one batch's files spread over a Ray cluster, with a local batch's guarantees.

The driver (this process) plans, keeps the manifest and the output lock, and decides what each
result means, exactly as engine.batch does locally; workers only run engine.restyle.restyle_file,
the same code a local batch runs, so outputs are byte-identical. Ray is imported only when a farm
is used (`pip install "roomtone[farm]"`), so `import engine` stays light.
"""

from __future__ import annotations

from engine.farm.cluster import LOCAL, check_ray_address, connected, farm_status, import_ray
from engine.farm.runner import FarmRunner

__all__ = ["LOCAL", "FarmRunner", "check_ray_address", "connected", "farm_status", "import_ray"]
