"""Synthetic corpus: files + manifest, byte-for-byte deterministic, held-out scenes disjoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from engine.train.corpus import (HELDOUT_SEED_OFFSET, MANIFEST, CorpusConfig, read_corpus_config, render_audio,
                                 write_corpus)


def _small(**kw) -> CorpusConfig:
    return CorpusConfig(**{"recordings": 2, "minutes": 0.1, "seed": 7, "max_talkers": 2,
                           "turn_range_s": (2.0, 4.0), **kw})


def test_corpus_writes_files_and_manifest(tiny_corpus):
    manifest = json.loads((tiny_corpus / MANIFEST).read_text())
    assert len(manifest["recordings"]) == 2
    for entry in manifest["recordings"]:
        audio, rate = sf.read(tiny_corpus / entry["audio"], dtype="float32")
        assert rate == 16000 and audio.ndim == 1 and audio.shape[0] == round(entry["seconds"] * rate)
        assert np.abs(audio).max() > 0.01
        assert (tiny_corpus / entry["image"]).is_file()
        assert {"room", "ambience", "snr_db", "seed"} <= set(entry["scene"]) and entry["talkers"]
        assert len(entry["rt60_band_s"]) == 7


def test_corpus_is_deterministic_and_images_depend_on_the_scene(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_corpus(_small(), a)
    write_corpus(_small(), b)
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir()) and len(files) == 5
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "rec_00000.png").read_bytes() != (a / "rec_00001.png").read_bytes()


def test_a_recordings_dry_speech_is_recovered_from_the_manifest_alone(tiny_corpus, tmp_path):
    """Evaluations feed the model the dry speech under a target window (the product's input); the
    corpus does not store it, so re-rendering from the manifest must give the stored mix exactly."""
    config = read_corpus_config(tiny_corpus)
    rec, _ = render_audio(config, 1)
    stored, _ = sf.read(tiny_corpus / "rec_00001.flac", dtype="float32")
    assert np.abs(stored - rec.mix[:, 0]).max() < 2.0**-22  # PCM_24 rounding only
    # the dry speech, delayed by the direct path, is what the wet speech is made of
    k, dry, wet = rec.direct_index, rec.dry[:, 0], rec.wet[:, 0]
    corr = [float(np.dot(dry[:dry.size - lag], wet[lag:])) for lag in (k - 3, k, k + 3)]
    assert corr[1] > 0 and corr[1] == max(corr)
    (tmp_path / MANIFEST).write_text('{"format": "x"}')
    with pytest.raises(ValueError, match="not a roomtone training corpus"):
        read_corpus_config(tmp_path)


def test_heldout_scenes_come_from_a_disjoint_seed_range(tmp_path):
    write_corpus(_small(images=False), tmp_path / "train")
    write_corpus(_small(images=False, split="heldout"), tmp_path / "heldout")
    train = json.loads((tmp_path / "train" / MANIFEST).read_text())
    held = json.loads((tmp_path / "heldout" / MANIFEST).read_text())
    assert held["effective_seed"] == 7 + HELDOUT_SEED_OFFSET and train["effective_seed"] == 7
    assert not {r["scene"]["seed"] for r in train["recordings"]} & {r["scene"]["seed"] for r in held["recordings"]}
    assert not (tmp_path / "train" / "rec_00000.png").exists()
    with pytest.raises(ValueError):
        CorpusConfig(recordings=1, minutes=1, seed=HELDOUT_SEED_OFFSET)
