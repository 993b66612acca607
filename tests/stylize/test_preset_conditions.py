"""Presets keep their condition tokens (issue 14 item 7): made at `preset create`, re-embedded once per
checkpoint and saved back (user presets) or cached (factory presets), never by changing a preset that
renderer threads share. Real presets on disk, a real tiny checkpoint, real threads and renderers."""

from __future__ import annotations

import copy
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.diffusion import Stylizer, StylizerConfig, save_checkpoint
from engine.stylize.condition import CONDITION_MEMO, EMBEDDING_KEY, embed_reference
from engine.diffusion.checkpoint import load_stylizer
from engine.render import SourceInfo
from engine.restyle import make_renderer
from engine.settings import Settings
from presets import Library, load_preset
from presets.conditions import CACHE_DIR
from presets.create import SCENE_EMBEDDING_KEY

from tests.diffusion.conftest import jitter_

FACTORY = Path(__file__).resolve().parents[2] / "presets" / "factory"
SOURCE = SourceInfo(48000, 1, 48000, -24.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, str]:
    torch.manual_seed(0)
    config = StylizerConfig.named("tiny")
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    return path, save_checkpoint(jitter_(Stylizer(config), seed=3), config, path)


@pytest.fixture(autouse=True)
def fresh_process(checkpoint, monkeypatch):
    """Each test starts as a new process would: nothing embedded yet, the tiny checkpoint in use."""
    monkeypatch.setenv("ROOMTONE_CHECKPOINT", str(checkpoint[0]))
    CONDITION_MEMO.clear()
    yield
    CONDITION_MEMO.clear()


def expected_tokens(checkpoint: tuple[Path, str], preset) -> np.ndarray:
    model, _, _ = load_stylizer(checkpoint[0])
    return embed_reference(model, preset.reference, preset.reference_rate_hz, preset.thumbnail_png)


def render_start(preset) -> bool:
    """Starts a diffusion render of ``preset`` (the renderer embeds when it is built); did it embed?"""
    return make_renderer(preset, Settings(engine="diffusion", steps=1), SOURCE).reembedded


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def stale_user_preset(tmp_path, make_preset):
    """A user preset on disk whose tokens another checkpoint made (zeros, so they cannot pass as ours)."""
    library = Library(tmp_path / "lib", factory_dir=None)
    preset = make_preset("Hall")
    preset.embeddings = {SCENE_EMBEDDING_KEY: np.ones((1, 8), np.float32),
                         EMBEDDING_KEY: np.zeros((14, 64), np.float32)}
    preset.embeddings_checkpoint = "another-checkpoint"
    library.add(preset)
    return library


# ------------------------------------------------------------------- (a) preset create


def test_preset_create_stores_the_checkpoints_tokens(tmp_path, checkpoint):
    from engine.cli import Exit, main
    from engine.kit.rooms import RoomConfig
    from engine.kit.scene import SceneSpec, render_scene

    scene = render_scene(SceneSpec(RoomConfig(rt60_s=0.6), "real:river", 15.0, seed=5), 4.0, 48000)
    sf.write(tmp_path / "ref.flac", scene.mix, 48000, subtype="PCM_24")
    assert main(["--library", str(tmp_path / "lib"), "preset", "create", "Riverbank", "--from",
                 str(tmp_path / "ref.flac"), "--quiet"]) == Exit.OK
    preset = Library(tmp_path / "lib", factory_dir=None).get("Riverbank")
    assert preset.embeddings_checkpoint == checkpoint[1]
    assert SCENE_EMBEDDING_KEY in preset.embeddings  # the scene estimator's embedding is still stored
    np.testing.assert_allclose(preset.embeddings[EMBEDDING_KEY], expected_tokens(checkpoint, preset), atol=1e-4)
    assert not render_start(preset)  # the first render embeds nothing


def test_preset_create_without_a_checkpoint_stores_no_tokens(tmp_path, monkeypatch):
    import engine.diffusion.checkpoint as eng
    from presets.create import condition_embeddings

    monkeypatch.setenv("ROOMTONE_CHECKPOINT", str(tmp_path / "nothing"))
    monkeypatch.setattr(eng, "SHIPPED_CHECKPOINT", tmp_path / "nothing-either")
    assert condition_embeddings(np.zeros((48000, 1), np.float32), 48000, None) is None


# ------------------------------------------------------------------- (b) user presets: saved back once


def test_render_with_another_checkpoint_saves_the_tokens_back(stale_user_preset, checkpoint):
    library = stale_user_preset
    preset = library.get("Hall")
    before = copy.deepcopy((preset.embeddings, preset.embeddings_checkpoint))
    library.rename("Hall", "Big Hall")  # made after the render loaded the preset: must survive the save
    assert render_start(preset)
    assert (preset.embeddings_checkpoint, preset.embeddings.keys()) == (before[1], before[0].keys())
    np.testing.assert_array_equal(preset.embeddings[EMBEDDING_KEY], before[0][EMBEDDING_KEY])

    saved = load_preset(library.user_dir / preset.id)
    assert saved.name == "Big Hall" and saved.embeddings_checkpoint == checkpoint[1]
    np.testing.assert_allclose(saved.embeddings[EMBEDDING_KEY], expected_tokens(checkpoint, preset), atol=1e-4)
    np.testing.assert_array_equal(saved.embeddings[SCENE_EMBEDDING_KEY], before[0][SCENE_EMBEDDING_KEY])
    # atomic: the folder was swapped whole, no temporary or old copy is left beside it
    assert [p.name for p in library.user_dir.iterdir()] == [preset.id]

    assert not render_start(preset)  # same process, same shared object: the memo, not a second embedding
    CONDITION_MEMO.clear()  # a new process reads the saved tokens
    assert not render_start(library.get("Big Hall"))


# ------------------------------------------------------------------- (c) factory presets: a cache


def test_factory_presets_are_never_written_their_tokens_are_cached(tmp_path, checkpoint):
    shutil.copytree(FACTORY / "restaurant", tmp_path / "factory" / "restaurant")
    shipped = files_of(tmp_path / "factory" / "restaurant")
    library = Library(tmp_path / "lib", factory_dir=tmp_path / "factory")
    preset = library.get("Restaurant")
    assert preset.factory and preset.embeddings_checkpoint != checkpoint[1]

    assert render_start(preset)
    assert files_of(tmp_path / "factory" / "restaurant") == shipped
    cache = list((tmp_path / "lib" / CACHE_DIR).iterdir())
    assert len(cache) == 1 and cache[0].name.startswith("restaurant.")
    assert [p.id for p in library.list()] == ["restaurant"] and not library.problems()  # the cache is no preset

    CONDITION_MEMO.clear()  # the next run reads the cache instead of embedding
    again = Library(tmp_path / "lib", factory_dir=tmp_path / "factory").get("Restaurant")
    assert not render_start(again)
    cached = again.condition_store.load(again, checkpoint[1])
    np.testing.assert_allclose(cached, expected_tokens(checkpoint, again), atol=1e-4)
    assert again.condition_store.load(again, "another-checkpoint") is None
    assert files_of(tmp_path / "factory" / "restaurant") == shipped


def test_a_damaged_cache_file_is_made_again(tmp_path):
    library = Library(tmp_path / "lib", factory_dir=FACTORY)
    assert render_start(library.get("Riverside"))
    (cache,) = (tmp_path / "lib" / CACHE_DIR).iterdir()
    cache.write_bytes(b"not safetensors")
    CONDITION_MEMO.clear()
    assert render_start(library.get("Riverside"))
    assert cache.read_bytes() != b"not safetensors"


# ------------------------------------------------------------------- (d) threads share one preset


def test_threads_sharing_one_preset_embed_once_and_change_nothing(stale_user_preset, checkpoint):
    library = stale_user_preset
    preset = library.get("Hall")
    embeddings, tag = preset.embeddings, preset.embeddings_checkpoint
    before = copy.deepcopy(embeddings)
    barrier = threading.Barrier(6)
    embedded: list[bool] = []
    errors: list[BaseException] = []

    def render() -> None:
        try:
            barrier.wait()
            embedded.append(render_start(preset))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=render) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(embedded) == [False] * 5 + [True]
    assert preset.embeddings is embeddings and preset.embeddings_checkpoint == tag
    assert embeddings.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(embeddings[key], before[key])
    assert load_preset(library.user_dir / preset.id).embeddings_checkpoint == checkpoint[1]


def test_tokens_that_cannot_be_kept_cost_a_warning_not_the_render(stale_user_preset, caplog):
    library = stale_user_preset
    preset = library.get("Hall")
    library.delete("Hall")  # gone while the batch was starting: nothing to save back into
    with caplog.at_level("WARNING", logger="roomtone.presets"):
        assert render_start(preset)
    assert "could not keep its condition tokens" in caplog.text and not library.list()


def test_a_duplicate_gets_its_own_tokens_saved(stale_user_preset, checkpoint):
    library = stale_user_preset
    copy_ = library.duplicate("Hall", "Hall Copy")  # same excerpt, new id and folder
    assert render_start(library.get("Hall")) and render_start(copy_)
    for name in ("Hall", "Hall Copy"):
        assert load_preset(library.user_dir / library.get(name).id).embeddings_checkpoint == checkpoint[1]
