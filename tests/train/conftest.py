"""Tiny corpus and cache shared by the training tests (built once per session: seconds, not minutes).

The cache uses the identity H (DeepFilterNet runs ~7x real time per core; test_enhance covers
H itself) and 0.64 s windows in 2.56 s clips, so every stage steps in well under a second.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

WINDOW_S = 0.64
CLIP_S = 2.56


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    from engine.train.corpus import CorpusConfig, write_corpus

    out = tmp_path_factory.mktemp("corpus")
    write_corpus(CorpusConfig(recordings=2, minutes=0.2, seed=3, max_talkers=2, turn_range_s=(3.0, 6.0)), out)
    return out


@pytest.fixture(scope="session")
def tiny_cache(tiny_corpus, tmp_path_factory) -> Path:
    from engine.train.enhance import EnhanceConfig
    from engine.train.prepare import PrepareConfig, prepare_cache

    config = PrepareConfig(window_s=WINDOW_S, clip_s=CLIP_S, pairs_per_clip=2, min_speech_s=0.3, image_px=64,
                           enhance=EnhanceConfig.clean(), shard_size=8)
    return prepare_cache(tiny_corpus, config, tmp_path_factory.mktemp("cache"))
