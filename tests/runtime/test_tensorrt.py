"""The code around TensorRT: cache keys, profile choice, the engine cache, routing and the fallback.

TensorRT's builder cannot be installed on these machines, so the builder here is a stand-in
module with TensorRT's Python API surface that records what it is asked to do; what TensorRT
itself does with the graphs is unverified here (the graphs are covered by the ONNX parity tests).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import types

import pytest
import torch

from engine.runtime.select import tensorrt_or_fallback
from engine.runtime.tensorrt_backend import TRT_GRAPHS, EngineCache, EngineKey, Profile, TensorRTBackend, \
    TensorRTUnavailable, build_tensorrt_engines, choose_profile
from engine.runtime.onnx_export import read_onnx_manifest
from engine.runtime.torch_backend import TorchBackend

GPU = ("NVIDIA H100 80GB HBM3", (9, 0))


def fake_tensorrt(version: str = "10.9.0", fail_build: bool = False, has_fp16: bool = True):
    """A module with the slice of TensorRT's Python API the backend uses; records every build."""
    trt = types.SimpleNamespace(__version__=version, builds=[])

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

    class Config:
        def __init__(self):
            self.flags, self.profiles, self.timing_in = set(), [], None

        def set_memory_pool_limit(self, pool, size):
            self.workspace = size

        def set_flag(self, flag):
            self.flags.add(flag)

        def create_timing_cache(self, data):
            self.timing_in = data
            return data

        def set_timing_cache(self, cache, ignore_mismatch):
            pass

        def add_optimization_profile(self, profile):
            self.profiles.append(profile)

        def get_timing_cache(self):
            return types.SimpleNamespace(serialize=lambda: (self.timing_in or b"") + b"t")

    class OptimizationProfile(dict):
        def set_shape(self, name, lo, opt, hi):
            self[name] = (tuple(lo), tuple(opt), tuple(hi))

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            return types.SimpleNamespace(flags=flags)

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return OptimizationProfile()

        def build_serialized_network(self, network, config):
            trt.builds.append(config)
            return None if fail_build else b"plan:" + repr(sorted(config.profiles[0].items())).encode()

    class OnnxParser:
        num_errors = 0

        def __init__(self, network, logger):
            pass

        def parse(self, data):
            return data[:1] != b""

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, plan):
            return types.SimpleNamespace(plan=plan, create_execution_context=lambda: types.SimpleNamespace())

    trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime = Logger, Builder, OnnxParser, Runtime
    trt.BuilderFlag = types.SimpleNamespace(**({"FP16": "fp16"} if has_fp16 else {}))
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace()
    return trt


def key(**changes) -> EngineKey:
    base = EngineKey("a" * 64, "10.9.0", GPU[0], GPU[1], "fp16", Profile((("x", (1,), (4,), (4,)),)))
    return dataclasses.replace(base, **changes)


def test_cache_key_changes_with_each_field_and_only_then():
    assert key().digest() == key().digest()
    variants = [key(onnx_sha256="b" * 64), key(tensorrt_version="10.9.1"), key(gpu_name="NVIDIA L4"),
                key(compute_capability=(8, 9)), key(precision="fp32"),
                key(profile=Profile((("x", (1,), (8,), (8,)),)))]
    digests = {v.digest() for v in variants} | {key().digest()}
    assert len(digests) == len(variants) + 1
    assert key().file_name("unet").startswith("unet-") and key().file_name("unet").endswith(".plan")


def test_profiles_span_the_renderers_calls(tiny_checkpoint):
    config = tiny_checkpoint[1].config
    unet = dict((n, (lo, opt, hi)) for n, lo, opt, hi in choose_profile(config, "unet", 8).shapes)
    assert unet["noisy_latent"] == ((2, 8, 16, 16), (16, 8, 16, 64), (16, 8, 16, 64))  # CFG doubles the batch
    assert unet["timestep"] == ((2,), (16,), (16,))
    assert unet["context"][0][1] == 1 and unet["context"][2][1] == 14  # hint tokens: short hints have fewer
    enc = choose_profile(config, "vae_encoder", 8)
    assert enc.shapes[0][1:] == ((1, 1, 64, 4), (8, 1, 64, 256), (8, 1, 64, 256))
    profile = choose_profile(config, "vocoder", 4)
    assert profile.covers({"log_mel": (3, 64, 256)}) and profile.covers({"log_mel": (1, 64, 7)})
    assert not profile.covers({"log_mel": (5, 64, 256)}) and not profile.covers({"log_mel": (1, 64, 300)})
    with pytest.raises(ValueError):
        choose_profile(config, "unet", 0)


def test_engines_are_built_once_and_keyed(tiny_checkpoint, onnx_dir, tmp_path):
    model, ident = tiny_checkpoint[1], tiny_checkpoint[2]
    manifest = read_onnx_manifest(onnx_dir, ident)
    cache = EngineCache(tmp_path / "trt")
    trt = fake_tensorrt()
    built = []
    engines = build_tensorrt_engines(model.config, onnx_dir, manifest, cache, "fp16", 4, trt=trt, identity=GPU,
                                     on_build=built.append)
    assert built == list(TRT_GRAPHS) and set(engines) == set(TRT_GRAPHS)
    assert all(c.flags == {"fp16"} for c in trt.builds)
    assert trt.builds[0].timing_in == b"" and trt.builds[1].timing_in == b"t"  # the timing cache carries over
    assert len(list(cache.directory.glob("*.plan"))) == 4 and len(list(cache.directory.glob("timing-*"))) == 1
    assert dict(trt.builds[0].profiles[0])["noisy_latent"][2] == (8, 8, 16, 64)

    built.clear()
    build_tensorrt_engines(model.config, onnx_dir, manifest, cache, "fp16", 4, trt=trt, identity=GPU,
                           on_build=built.append)
    assert built == []  # all cached
    build_tensorrt_engines(model.config, onnx_dir, manifest, cache, "fp32", 4, trt=trt, identity=GPU,
                           on_build=built.append)
    assert built == list(TRT_GRAPHS) and trt.builds[-1].flags == set()
    built.clear()
    build_tensorrt_engines(model.config, onnx_dir, manifest, cache, "fp16", 4, trt=trt, identity=("NVIDIA L4", (8, 9)),
                           on_build=built.append)
    assert built == list(TRT_GRAPHS)


def one_warning(caplog) -> str:
    records = [r for r in caplog.records if r.name == "roomtone.runtime" and r.levelno >= logging.WARNING]
    assert len(records) == 1
    return records[0].getMessage()


def test_falls_back_to_torch_with_one_line_when_tensorrt_is_missing(tiny_checkpoint, onnx_dir, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails
    with caplog.at_level(logging.WARNING, logger="roomtone.runtime"):
        backend = tensorrt_or_fallback(tiny_checkpoint[1], tiny_checkpoint[2], "fp32", 4, onnx_dir)
    assert isinstance(backend, TorchBackend)
    message = one_warning(caplog)
    assert "TensorRT not used" in message and "pip install" in message and "torch" in message


@pytest.mark.parametrize("trt,reason", [(fake_tensorrt(fail_build=True), "failed to build"),
                                        (fake_tensorrt("11.4.0", has_fp16=False), "tensorrt<11")])
def test_falls_back_with_one_line_when_a_build_fails(tiny_checkpoint, onnx_dir, tmp_path, monkeypatch, caplog,
                                                     trt, reason):
    monkeypatch.setenv("ROOMTONE_CACHE", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="roomtone.runtime"):
        backend = tensorrt_or_fallback(tiny_checkpoint[1], tiny_checkpoint[2], "fp16", 4, onnx_dir, trt=trt,
                                       identity=GPU)
    assert isinstance(backend, TorchBackend)
    assert reason in one_warning(caplog)
    assert not list(tmp_path.rglob("*.plan"))  # nothing half-built is cached


def test_tensorrt_backend_uses_engines_inside_their_profiles_and_torch_outside(tiny_checkpoint):
    model = tiny_checkpoint[1]
    fallback = TorchBackend(model)
    seen = []

    class Engine:
        def __init__(self, graph):
            spec_inputs = {"unet": ("noisy_latent", "enhanced_latent", "timestep", "context"),
                           "vae_encoder": ("mel",), "vae_decoder": ("latent",), "vocoder": ("log_mel",)}
            self.graph, self.inputs = graph, spec_inputs[graph]
            self.profile = choose_profile(model.config, graph, 2)

        def __call__(self, *tensors):
            seen.append((self.graph, tuple(tensors[0].shape)))
            if self.graph == "unet":
                return fallback.model.unet(*tensors)
            return {"vae_encoder": lambda m: fallback.model.vae.encoder(m).chunk(2, 1)[0],
                    "vae_decoder": fallback.model.vae.decoder, "vocoder": fallback.vocode}[self.graph](*tensors)

    backend = TensorRTBackend(fallback, {g: Engine(g) for g in TRT_GRAPHS}, "fp16")
    x = torch.randn(2, 8, 16, 50)  # padded to 64 for the engine, cropped back
    ctx = torch.randn(2, 14, 64)
    torch.testing.assert_close(backend.denoise(x, x, 10, ctx), fallback.denoise(x, x, 10, ctx))
    assert seen[-1] == ("unet", (2, 8, 16, 64))
    big = torch.randn(6, 8, 16, 64)  # batch 6 > the profile's 2 x 2 windows: torch runs it
    backend.denoise(big, big, 10, torch.randn(6, 14, 64))
    assert seen[-1] == ("unet", (2, 8, 16, 64))
    mel = torch.randn(1, 1, 64, 255) - 6
    torch.testing.assert_close(backend.encode(mel), fallback.encode(mel))
    assert seen[-1] == ("vae_encoder", (1, 1, 64, 256))
    tokens = backend.condition(mel, torch.rand(1, 3, 64, 64))  # the condition encoder stays on torch
    assert tokens.shape == (1, 14, 64) and seen[-1][0] == "vae_encoder"


def test_missing_onnx_graph_is_reported_as_unavailable(tiny_checkpoint, onnx_dir, tmp_path):
    import shutil

    copy = tmp_path / "export"
    shutil.copytree(onnx_dir, copy)
    (copy / "unet.onnx").write_bytes(b"")
    manifest = read_onnx_manifest(copy, verify=False)
    with pytest.raises(TensorRTUnavailable, match="cannot parse"):
        build_tensorrt_engines(tiny_checkpoint[1].config, copy, manifest, EngineCache(tmp_path / "c"), "fp16", 4,
                               trt=fake_tensorrt(), identity=GPU)
