"""Throughput mode: windows of several files pooled into shared batches give the file-by-file
outputs, and what is held at once is bounded by the settings, not by the number of files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.batch import BatchRunner, files_in_flight
from engine.diffusion import Stylizer, StylizerConfig, save_checkpoint
from engine.stylize.throughput import WindowBatcher
from engine.settings import Settings
from presets.store import load_preset

from tests.diffusion.conftest import jitter_
from tests.stylize.test_renderer import FACTORY, speech

RATE = 16000  # the model rate: no match-engine crossover, so the test stays small


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    config = StylizerConfig.named("tiny")
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(jitter_(Stylizer(config)), config, path)
    return path


@pytest.fixture
def dialogue(tmp_path):
    """Five files of different lengths (one shorter than a window, some several windows long)."""
    from engine.audio import resample

    folder = tmp_path / "in"
    folder.mkdir()
    x = resample(speech(8.0), 48000, RATE)[:, 0]
    for k, seconds in enumerate([1.2, 3.1, 0.7, 5.3, 2.2]):
        start = int(0.4 * k * RATE)
        sf.write(folder / f"line{k}.wav", x[start: start + int(seconds * RATE)], RATE, subtype="FLOAT")
    return folder


def render(folder, out, batch_windows: int, monkeypatch, checkpoint, sampler="dpmpp"):
    monkeypatch.setenv("ROOMTONE_CHECKPOINT", str(checkpoint))
    settings = Settings(engine="diffusion", steps=2, seed=5, sampler=sampler, backend="torch", device="cpu")
    runner = BatchRunner(load_preset(FACTORY / "restaurant"), settings, out, batch_windows=batch_windows)
    report = runner.run([folder])
    assert report.ok and report.count("done") == 5
    return runner, {p.name: sf.read(p, dtype="float32")[0] for p in sorted(out.glob("*.wav"))}


@pytest.mark.parametrize("sampler", ["dpmpp", "ddim"])
def test_pooled_batches_give_the_file_by_file_outputs(dialogue, tmp_path, monkeypatch, checkpoint, sampler):
    _, alone = render(dialogue, tmp_path / "alone", 0, monkeypatch, checkpoint, sampler)
    runner, pooled = render(dialogue, tmp_path / "pooled", 6, monkeypatch, checkpoint, sampler)
    assert alone.keys() == pooled.keys() and len(alone) == 5
    for name in alone:
        a, b = alone[name], pooled[name]
        assert a.shape == b.shape
        # Same windows, noise and condition; only the batch composition differs (float rounding).
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(a).max()), name
    # ... and windows of different files really did share batches.
    assert max(files for _, files in runner.batcher.stats.batches) >= 2


def test_memory_is_bounded_by_the_settings_not_the_batch(dialogue, tmp_path, monkeypatch, checkpoint):
    runner, _ = render(dialogue, tmp_path / "pooled", 6, monkeypatch, checkpoint)
    stats = runner.batcher.stats
    in_flight = files_in_flight(6, 5)
    assert stats.max_files_in_flight <= in_flight < 5  # never all five files open at once
    assert all(windows <= 6 for windows, _ in stats.batches)
    # Each file thread has at most one call outstanding, of at most windows_per_file windows.
    assert stats.max_pending_windows <= in_flight * runner.batcher.windows_per_file


def test_a_failing_batch_fails_its_files_not_the_run():
    class Broken:
        batch_key = ("broken",)
        condition = torch.zeros(1, 3, 4)

        def latent_shape(self, window):
            return (1, 1, 1)

        def start_noise(self, starts, shape):
            return torch.zeros(len(starts), *shape)

        def stylize(self, windows, noise, condition):
            raise RuntimeError("out of memory")

    batcher = WindowBatcher(4)
    with batcher.participant(), pytest.raises(RuntimeError, match="out of memory"):
        batcher.client(Broken())(np.zeros((2, 8), np.float32), [0, 8])


def test_batcher_rejects_nonsense_sizes():
    with pytest.raises(ValueError, match="max_windows"):
        WindowBatcher(0)
    with pytest.raises(ValueError, match="batch_windows"):
        BatchRunner(None, Settings(), "/tmp/x", batch_windows=-1)
