"""The scene estimator's corpus and training loop on a tiny config (real rooms, voices, network)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from engine.kit.speech import espeak_available
from engine.train.scene_corpus import SceneCorpusConfig, load_scene_corpus, render_scene_corpus, target_names

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (the corpus voices)")

TINY = SceneCorpusConfig(rooms=2, mics_per_room=1, references_per_mic=3, min_seconds=4.5, max_seconds=5.0,
                         sample_rate_hz=16000)


@pytest.fixture(scope="module")
def tiny_scene_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("scene-corpus")
    render_scene_corpus(out, TINY)
    return out


def test_corpus_holds_features_and_truth_per_reference(tiny_scene_corpus) -> None:
    feats, targets, meta = load_scene_corpus(tiny_scene_corpus)
    assert len(feats) == len(meta) == targets.shape[0] == 6
    assert targets.shape[1] == len(target_names())
    for f, m in zip(feats, meta):
        assert f.shape[1] == 28 and 400 <= f.shape[0] <= 510
        assert m["family"] and m["ambience"]
    rt = np.exp(targets[:, :7])
    assert np.all((rt[:, 2:5] >= 0.05 * (1 - 1e-6)) & (rt[:, 2:5] <= 12.0))  # float32 log round trip
    # Three references of one microphone share its room truth but not the ambience level.
    assert np.allclose(targets[:3, :9], targets[0, :9], equal_nan=True)
    assert np.all(np.isfinite(targets[:, 9]))


def test_corpus_resumes_and_is_a_function_of_its_config(tiny_scene_corpus, tmp_path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in tiny_scene_corpus.glob("room-*.npz")}
    render_scene_corpus(tiny_scene_corpus, TINY)
    assert {p.name: p.stat().st_mtime_ns for p in tiny_scene_corpus.glob("room-*.npz")} == before
    render_scene_corpus(tmp_path, replace(TINY, rooms=1))
    a = np.load(tmp_path / "room-000000.npz")
    b = np.load(tiny_scene_corpus / "room-000000.npz")
    assert np.array_equal(a["targets"], b["targets"], equal_nan=True)
    assert np.array_equal(a["features"], b["features"])
    with pytest.raises(ValueError, match="another config"):
        render_scene_corpus(tmp_path, replace(TINY, seed=5))


def test_training_learns_and_resumes(tiny_scene_corpus, tmp_path) -> None:
    from engine.scene.estimator import debug_config, load_estimator
    from engine.train.scene_train import SceneTrainConfig, train_scene_estimator

    cfg = SceneTrainConfig(steps=40, batch=4, lr=3e-3, log_every=10, ckpt_every=20, val_fraction=0.2, threads=1)
    model_cfg = debug_config(())
    train_scene_estimator([tiny_scene_corpus], tmp_path, replace(cfg, steps=20), model_config=model_cfg)
    with pytest.raises(FileExistsError):
        train_scene_estimator([tiny_scene_corpus], tmp_path, cfg, model_config=model_cfg)
    package = train_scene_estimator([tiny_scene_corpus], tmp_path, cfg, resume=True)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [10, 20, 30, 40]
    assert np.mean([r["loss"] for r in log[-2:]]) < log[0]["loss"]
    est = load_estimator(package)
    x = np.random.default_rng(0).standard_normal(16000 * 5).astype(np.float32) * 0.1
    r = est.estimate(x, 16000)
    assert r.mean.shape == r.std.shape == (len(target_names()),)
    assert np.all(r.std > 0) and r.embedding.shape == (8,)
    assert r.checkpoint_id.startswith("scene-")


def test_batches_span_short_and_long_crops_of_long_enough_references() -> None:
    """Cropping a batch to its shortest member trained on 4-6 s only; users give 12-60 s."""
    from engine.train.scene_train import MAX_CROP_FRAMES, MIN_CROP_FRAMES, _draw_batch

    rng = np.random.default_rng(0)
    lengths = rng.integers(500, 2001, size=400)
    train_idx = np.arange(400)
    crops = []
    for step in range(300):
        idx, crop = _draw_batch(lengths, train_idx, 32, np.random.default_rng([0, step]))
        assert MIN_CROP_FRAMES <= crop <= MAX_CROP_FRAMES
        assert np.all(lengths[idx] >= crop) and len(set(idx.tolist())) == idx.size
        crops.append(crop)
    assert np.percentile(crops, 10) < 600 and np.percentile(crops, 90) > 1300


def test_a_run_can_start_from_a_package(tiny_scene_corpus, tmp_path) -> None:
    """--init: the run starts as the package's own function (weights and target scaling), so at a
    learning rate of zero it writes the same estimator back; a package of other targets is refused."""
    import torch

    from engine.scene.estimator import build_network, debug_config, load_estimator, save_estimator
    from engine.train.scene_train import SceneTrainConfig, train_scene_estimator

    cfg = SceneTrainConfig(steps=10, batch=4, lr=3e-3, log_every=10, ckpt_every=10, val_fraction=0.2, threads=1)
    first = load_estimator(train_scene_estimator([tiny_scene_corpus], tmp_path / "a", cfg, model_config=debug_config(())))
    again = load_estimator(train_scene_estimator([tiny_scene_corpus], tmp_path / "b", replace(cfg, lr=0.0),
                                                 init=tmp_path / "a" / "model"))
    assert again.config == first.config
    for k, v in first.module.state_dict().items():
        assert torch.equal(again.module.state_dict()[k], v), k
    moved = load_estimator(train_scene_estimator([tiny_scene_corpus], tmp_path / "c", cfg, init=tmp_path / "a" / "model"))
    assert moved.config.target_mean == first.config.target_mean
    assert not torch.equal(moved.module.state_dict()["head.2.weight"], first.module.state_dict()["head.2.weight"])

    other = debug_config(("rt60_500", "drr"))
    save_estimator(build_network(other), other, tmp_path / "other")
    with pytest.raises(ValueError, match="other targets"):
        train_scene_estimator([tiny_scene_corpus], tmp_path / "d", cfg, init=tmp_path / "other")
