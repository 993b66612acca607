"""Prepared cache and Dataset: shapes, non-overlapping pairs, whole recordings held out, batches by step."""

from __future__ import annotations

import torch

from engine.train.dataset import PairCache, batch_indices
from tests.train.conftest import WINDOW_S


def test_cache_holds_pairs_of_the_right_shape(tiny_cache):
    train, val = PairCache(tiny_cache, "train", image_px=32), PairCache(tiny_cache, "val")
    assert len(train) > 0 and len(val) > 0
    window = round(WINDOW_S * 16000)
    item = train[0]
    for key in ("target", "enhanced", "condition"):
        assert item[key].shape == (window,) and item[key].dtype == torch.float32
    assert item["image"].shape == (3, 32, 32) and 0.0 <= float(item["image"].min()) <= float(item["image"].max()) <= 1.0
    assert torch.equal(item["target"], item["enhanced"])  # the cache was made with the identity H
    recordings = {s["path"]: s["split"] for s in train.index["recordings"]}
    assert sorted(recordings.values()) == ["train", "val"]  # whole recordings are held out


def test_target_and_condition_never_overlap_in_the_cache(tiny_cache):
    from safetensors.torch import load_file

    window = round(WINDOW_S * 16000)
    for split in ("train", "val"):
        for shard in PairCache(tiny_cache, split)._files:
            starts = load_file(str(shard))["starts"]
            assert bool(((starts[:, 0] - starts[:, 1]).abs() >= window).all())


def test_batches_are_a_function_of_the_step_and_ranks_share_them():
    assert batch_indices(100, 4, seed=1, step=5) == batch_indices(100, 4, seed=1, step=5)
    assert batch_indices(100, 4, seed=1, step=5) != batch_indices(100, 4, seed=1, step=6)
    whole = batch_indices(100, 8, seed=1, step=3, rank=0, world_size=1)
    ranks = [batch_indices(100, 4, seed=1, step=3, rank=r, world_size=2) for r in range(2)]
    assert sorted(ranks[0] + ranks[1]) == sorted(whole)


def _write_video(path, seconds: int = 6, rate: int = 16000, fps: int = 10) -> None:
    """A film whose frame brightness encodes its time (4 levels per frame), with kit speech as sound."""
    import av
    import numpy as np

    from engine.kit.speech import speech_source

    speech = speech_source(seconds, rate, np.random.default_rng(0))[:, 0]
    with av.open(str(path), "w") as c:
        v = c.add_stream("mpeg4", rate=fps)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("aac", rate=rate)
        a.layout = "mono"
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 4, np.uint8), format="rgb24")
            for p in v.encode(frame):
                c.mux(p)
        for k in range(0, speech.size, 1024):
            frame = av.AudioFrame.from_ndarray(speech[None, k:k + 1024].copy(), format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, k
            for p in a.encode(frame):
                c.mux(p)
        for stream in (v, a):
            for p in stream.encode():
                c.mux(p)


def test_video_recordings_give_a_frame_from_inside_the_condition_window(tmp_path):
    from engine.train.enhance import EnhanceConfig
    from engine.train.media import list_recordings
    from engine.train.prepare import PrepareConfig, recording_examples

    _write_video(tmp_path / "film.mp4")
    [recording] = list_recordings(tmp_path)
    assert recording.is_video and recording.has_picture
    config = PrepareConfig(window_s=0.64, clip_s=2.56, min_speech_s=0.3, image_px=32, enhance=EnhanceConfig.clean())
    ex = recording_examples(recording, 0, config)
    assert ex["target"].shape[0] > 0 and ex["image"].shape == (ex["target"].shape[0], 3, 32, 32)
    for (_, cond_start), image in zip(ex["starts"], ex["image"]):
        time_s = float(image.mean()) / 40.0  # 4 levels per frame, 10 frames per second
        assert cond_start / 16000 - 0.15 <= time_s <= (cond_start + config.window_samples) / 16000 + 0.15
