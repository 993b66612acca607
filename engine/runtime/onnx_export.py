"""``roomtone export-onnx``: the stylizer's networks as ONNX graphs plus a manifest that pins them.

Why the TorchScript exporter (``dynamo=False``): the networks are plain convolutions, norms and
attention, which it handles at opset 17 in seconds; the dynamo exporter adds a dependency tree
and minutes of tracing for no gain here. The graphs are those of engine.runtime.graphs.

The folder is complete when ``manifest.json`` exists (it is written last); the manifest records,
per graph, its file, SHA-256, input/output names and dynamic axes, and for the folder the opset,
the torch version and the checkpoint id, so a stale export (other weights) is detected on load.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from engine.errors import RoomtoneError
from engine.runtime.graphs import GRAPH_NAMES, example_inputs, graph_modules, graph_specs

FORMAT = "roomtone.onnx"
VERSION = 1
OPSET = 17  # LayerNormalization is native from 17; TensorRT 8.6+ and onnxruntime >= 1.14 take it
MANIFEST = "manifest.json"
# Parity of each graph with torch, float32 on the CPU, max |onnx - torch| <= ATOL + RTOL * max |torch|.
PARITY_RTOL = 1e-4
PARITY_ATOL = 1e-4


class OnnxExportError(RoomtoneError):
    """An ONNX export is missing, incomplete, corrupted or made from other weights."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_onnx(model: nn.Module, checkpoint_id: str, out_dir: str | Path, opset: int = OPSET) -> dict:
    """Export every graph of ``model`` (a Stylizer, CPU, fp32) into ``out_dir``; returns the manifest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)  # incomplete until rewritten
    model = _cpu_copy(model)
    config = model.config
    specs = graph_specs(config)
    modules = graph_modules(model)
    graphs = {}
    for name in GRAPH_NAMES:
        spec = specs[name]
        target = out_dir / f"{name}.onnx"
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".onnx", dir=out_dir)
        os.close(fd)
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # tracer warnings about the models' shape checks
                torch.onnx.export(modules[name], example_inputs(spec, config), tmp, dynamo=False,
                                  opset_version=opset, input_names=list(spec.inputs),
                                  output_names=list(spec.outputs), dynamic_axes=spec.dynamic_axes,
                                  do_constant_folding=True)
            _publish(tmp, target)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, Exception) and not isinstance(exc, RoomtoneError):
                raise OnnxExportError(f"exporting the {name} graph failed: {exc}") from exc
            raise
        graphs[name] = {
            "file": target.name,
            "sha256": sha256_file(target),
            "inputs": list(spec.inputs),
            "outputs": list(spec.outputs),
            "dynamic_axes": {k: {str(a): n for a, n in v.items()} for k, v in spec.dynamic_axes.items()},
            "typical_shapes": {k: list(v) for k, v in spec.typical_shapes.items()},
            "frame_multiple": spec.frame_multiple,
        }
    manifest = {"format": FORMAT, "version": VERSION, "checkpoint_id": checkpoint_id, "opset": opset,
                "torch_version": torch.__version__, "graphs": graphs, "config": config.to_dict()}
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", dir=out_dir)
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=2)
    _publish(tmp, out_dir / MANIFEST)
    return manifest


def _cpu_copy(model: nn.Module) -> nn.Module:
    """The model itself when it is already CPU fp32, else a copy: the caller's (cached, GPU) model stays put."""
    p = next(model.parameters())
    if p.device.type == "cpu" and p.dtype == torch.float32:
        return model.eval()
    return copy.deepcopy(model).to("cpu").float().eval()


def _publish(tmp: str | Path, target: Path) -> None:
    """Rename into place with the umask's permissions (mkstemp's 0600 would hide files from colleagues)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, target)


def read_onnx_manifest(directory: str | Path, checkpoint_id: str | None = None, verify: bool = True) -> dict:
    """The manifest of a complete export; checks the format, the weights it came from and the hashes."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        raise OnnxExportError(f"{directory}: no ONNX export here (no {MANIFEST}); "
                              "run 'roomtone export-onnx --out DIR'") from None
    except (OSError, ValueError) as exc:
        raise OnnxExportError(f"{directory / MANIFEST}: unreadable ({exc}); export again") from None
    if manifest.get("format") != FORMAT or manifest.get("version", 0) > VERSION:
        raise OnnxExportError(f"{directory}: not a roomtone ONNX export of version <= {VERSION}")
    if checkpoint_id is not None and manifest.get("checkpoint_id") != checkpoint_id:
        raise OnnxExportError(f"{directory}: exported from checkpoint {str(manifest.get('checkpoint_id'))[:12]}, "
                              f"not {checkpoint_id[:12]}; export this checkpoint again")
    missing = [n for n in GRAPH_NAMES if n not in manifest.get("graphs", {})]
    if missing:
        raise OnnxExportError(f"{directory}: the export lacks {missing}; export again")
    if verify:
        for name, graph in manifest["graphs"].items():
            path = directory / graph["file"]
            if not path.is_file() or sha256_file(path) != graph["sha256"]:
                raise OnnxExportError(f"{path}: missing or changed since export (hash mismatch); export again")
    return manifest


def check_parity(model: nn.Module, directory: str | Path, seed: int = 0) -> dict[str, float]:
    """Max |onnxruntime - torch| / (ATOL + RTOL max|torch|) per graph at the typical shapes (<= 1 passes).

    Runs on the CPU provider; raises OnnxExportError naming the graph that is out of tolerance.
    """
    import numpy as np
    import onnxruntime as ort

    directory = Path(directory)
    manifest = read_onnx_manifest(directory)
    model = _cpu_copy(model)
    modules = graph_modules(model)
    specs = graph_specs(model.config)
    ratios = {}
    for name in GRAPH_NAMES:
        inputs = example_inputs(specs[name], model.config, seed)
        with torch.no_grad():
            ref = modules[name](*inputs).numpy()
        session = ort.InferenceSession(str(directory / manifest["graphs"][name]["file"]),
                                       providers=["CPUExecutionProvider"])
        out = session.run(None, {n: x.numpy() for n, x in zip(specs[name].inputs, inputs)})[0]
        if out.shape != ref.shape:
            raise OnnxExportError(f"{name}: onnxruntime gives shape {out.shape}, torch {ref.shape}")
        ratios[name] = float(np.abs(out - ref).max() / (PARITY_ATOL + PARITY_RTOL * np.abs(ref).max()))
        if not ratios[name] <= 1.0:
            raise OnnxExportError(f"{name}: onnxruntime differs from torch by {ratios[name]:.2f}x the tolerance")
    return ratios
