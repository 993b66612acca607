"""ONNX export: the manifest pins the graphs, and onnxruntime matches torch on the CPU.

Tolerances (float32 on the CPU): each graph within 1e-4 + 1e-4 x max|torch| of torch, at the
export shapes and at other batch sizes and lengths (the dynamic axes); a whole 3-step render
through the onnxruntime backend within 1e-4 of the torch one (measured ~1e-6; the error grows
with steps because each step feeds the next).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.diffusion import DDIMSampler, DPMSolverPP2MSampler, StylizerPipeline
from engine.runtime.graphs import GRAPH_NAMES, graph_modules, graph_specs
from engine.runtime.onnx_backend import OnnxBackend
from engine.runtime.onnx_export import MANIFEST, OPSET, OnnxExportError, check_parity, read_onnx_manifest, \
    sha256_file
from engine.runtime.torch_backend import TorchBackend

from tests.diffusion.conftest import make_wave

RTOL = ATOL = 1e-4


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = RTOL, atol: float = ATOL) -> None:
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= atol + rtol * float(b.abs().max())


def test_manifest_pins_every_graph(tiny_checkpoint, onnx_dir):
    _, model, ident = tiny_checkpoint
    manifest = json.loads((onnx_dir / MANIFEST).read_text())
    assert manifest["checkpoint_id"] == ident and manifest["opset"] == OPSET
    specs = graph_specs(model.config)
    assert set(manifest["graphs"]) == set(GRAPH_NAMES)
    for name, graph in manifest["graphs"].items():
        assert graph["sha256"] == sha256_file(onnx_dir / graph["file"])
        assert tuple(graph["inputs"]) == specs[name].inputs and tuple(graph["outputs"]) == specs[name].outputs
    assert manifest["graphs"]["unet"]["dynamic_axes"]["noisy_latent"] == {"0": "batch", "3": "latent_frames"}


def test_every_graph_matches_torch_at_the_export_shapes(tiny_checkpoint, onnx_dir):
    ratios = check_parity(tiny_checkpoint[1], onnx_dir)
    assert set(ratios) == set(GRAPH_NAMES) and max(ratios.values()) <= 1.0


def test_vocoder_graph_is_the_vocoder(tiny_checkpoint):
    """The real-arithmetic inverse STFT of the exported vocoder equals the model's complex one."""
    model = tiny_checkpoint[1]
    mel = -6.0 + 2.0 * torch.randn(2, model.config.vocoder.n_mels, 37, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        close(graph_modules(model)["vocoder"](mel), model.vocoder(mel), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch,latent_frames", [(1, 64), (6, 64), (2, 23)])
def test_backends_agree_at_other_batches_and_lengths(tiny_checkpoint, onnx_dir, batch, latent_frames):
    """Dynamic batch (CFG doubles it) and latent length, including one that needs padding to 16."""
    _, model, ident = tiny_checkpoint
    ref, ort = TorchBackend(model), OnnxBackend(model, ident, onnx_dir)
    g = torch.Generator().manual_seed(batch)
    c = model.config.vae.latent_channels
    noisy, enhanced = (torch.randn(batch, c, 16, latent_frames, generator=g) for _ in range(2))
    context = torch.randn(batch, 14, model.config.unet.context_dim, generator=g)
    close(ort.denoise(noisy, enhanced, 321, context), ref.denoise(noisy, enhanced, 321, context))
    mel = -6.0 + 2.0 * torch.randn(batch, 1, 64, 4 * latent_frames - 3, generator=g)  # not a multiple of 4
    close(ort.encode(mel), ref.encode(mel))
    close(ort.decode(noisy), ref.decode(noisy))
    close(ort.vocode(mel[:, 0]), ref.vocode(mel[:, 0]))
    image = torch.rand(batch, 3, 64, 64, generator=g)
    close(ort.condition(mel[:, :, :, :100], image), ref.condition(mel[:, :, :, :100], image))  # fewer tokens


@pytest.mark.parametrize("sampler", [DDIMSampler, DPMSolverPP2MSampler])
def test_a_whole_render_through_onnxruntime_matches_torch(tiny_checkpoint, onnx_dir, sampler):
    _, model, ident = tiny_checkpoint
    outs = []
    for backend in (None, TorchBackend(model), OnnxBackend(model, ident, onnx_dir)):
        pipe = StylizerPipeline.from_stylizer(model, sampler(model.config.diffusion), backend)
        cond = pipe.encode_condition(make_wave(1.0, seed=1), torch.rand(1, 3, 64, 64,
                                                                         generator=torch.Generator().manual_seed(0)))
        outs.append(pipe(make_wave(1.3), cond, steps=3, guidance_scale=4.5, seed=2).wave)
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=0)  # the torch backend is the modules, exactly
    close(outs[2], outs[0])


def test_a_stale_or_tampered_export_is_refused(tiny_checkpoint, onnx_dir, tmp_path):
    with pytest.raises(OnnxExportError, match="export this checkpoint again"):
        read_onnx_manifest(onnx_dir, "0" * 64)
    with pytest.raises(OnnxExportError, match="no ONNX export"):
        read_onnx_manifest(tmp_path)
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(onnx_dir, copy)
    with open(copy / "vocoder.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(OnnxExportError, match="hash mismatch"):
        read_onnx_manifest(copy, tiny_checkpoint[2])


def test_export_onnx_command(tiny_checkpoint, onnx_dir, tmp_path, capsys):
    path, _, ident = tiny_checkpoint
    out = tmp_path / "cli-export"
    assert main(["export-onnx", "--out", str(out), "--checkpoint", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "onnxruntime matches torch" in printed and ident[:12] in printed
    manifest = read_onnx_manifest(out, ident)
    assert set(manifest["graphs"]) == set(GRAPH_NAMES)
    # Deterministic: the same weights give byte-identical graphs (so hashes key caches reliably).
    fixture = read_onnx_manifest(onnx_dir, ident)
    assert {n: g["sha256"] for n, g in manifest["graphs"].items()} == \
        {n: g["sha256"] for n, g in fixture["graphs"].items()}
