"""engine.visual at debug size on the CPU: real networks, real files (PNG, FLAC, a PyAV video)."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from engine.visual.dataset import PictureData
from engine.visual.losses import PatchNCELoss
from engine.visual.model import AVDiscriminator, VisualConfig
from engine.visual.procedural import render_procedural_set
from engine.visual.train import PictureStage, PictureTrainConfig, Stylizer, load_stylizer, save_stylizer
from engine.visual.video import read_video, write_video

C = VisualConfig.debug()


def _batch(n=2, c=C):
    frames = int(c.window_s * c.sample_rate_hz) // 256 + 1
    return {"image": torch.rand(n, 3, c.image_px, c.image_px) * 2 - 1, "mel": torch.randn(n, 1, c.n_mels, frames),
            "label": torch.eye(c.num_labels)[:n], "factor": torch.zeros(n)}


def test_shapes_and_identity_at_init():
    b = _batch()
    g = Stylizer(C)
    out = g(b["image"], b["mel"])
    assert out.shape == b["image"].shape
    assert torch.allclose(out, b["image"])  # the change head starts at zero
    assert AVDiscriminator(C)(b["image"], b["mel"]).shape[:2] == (2, 1)
    lab = Stylizer(VisualConfig.debug().__class__(**{**C.__dict__, "conditioner": "label"}))
    assert lab(b["image"], b["label"]).shape == b["image"].shape


def test_patchnce_low_for_same_patches_high_for_shuffled():
    torch.manual_seed(0)
    k = torch.nn.functional.normalize(torch.randn(2, 32, 16), dim=-1)
    loss = PatchNCELoss(0.07)
    same, shuffled = loss(k, k), loss(k[:, torch.randperm(32)], k)
    assert same < 0.1 < np.log(32) < shuffled


def test_discriminator_reads_the_sound():
    b = _batch()
    d = AVDiscriminator(C)
    assert not torch.allclose(d(b["image"], b["mel"]), d(b["image"], b["mel"].flip(0)))


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    render_procedural_set(root, 8, seed=1, px=C.image_px, seconds=C.window_s)
    return root


def test_dataset_from_pairs(tiny_set):
    data = PictureData.from_folder(tiny_set, C)
    assert len(data) == 8 and data.images.shape == (8, 3, 32, 32)
    item = data[1]
    assert item["image"].min() >= -1 and item["label"].argmax() == 1 and item["factor"] > 0


def _run(data, out, steps, resume=False):
    from engine.train.loop import run_stage

    cfg = PictureTrainConfig(steps=steps, batch_size=4, ckpt_every=3, log_every=1, model=C)
    stage = PictureStage(cfg)
    run_stage(stage, data, None, out, resume=resume)
    return stage


def test_training_reduces_loss_and_resumes_exactly(tiny_set, tmp_path):
    import json

    torch.set_num_threads(1)
    data = PictureData.from_folder(tiny_set, C)
    full = _run(data, tmp_path / "a", 6)
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["nce"] < log[0]["nce"]
    _run(data, tmp_path / "b", 3)
    resumed = _run(data, tmp_path / "b", 6, resume=True)
    for k, v in full.G.state_dict().items():
        assert torch.equal(v, resumed.G.state_dict()[k]), k
    assert load_stylizer(tmp_path / "b" / "model").config == C


def test_a_run_can_start_from_a_package(tiny_set, tmp_path):
    """``train picture --init PACKAGE``: the generator starts from the package, D and F fresh."""
    from engine.errors import RoomtoneError

    torch.set_num_threads(1)
    first = _run(PictureData.from_folder(tiny_set, C), tmp_path / "a", 3)
    package = tmp_path / "a" / "model"
    stage = PictureStage(PictureTrainConfig(model=C, init_from=str(package)))
    for k, v in first.G.state_dict().items():
        assert torch.equal(v, stage.G.state_dict()[k]), k
    with pytest.raises(RoomtoneError, match="differs from this run"):
        PictureStage(PictureTrainConfig(model=VisualConfig(**{**C.__dict__, "ngf": C.ngf * 2}), init_from=str(package)))


def _video(path, n=6, size=(40, 48), rate=Fraction(12)):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (size[0], size[1], 3), dtype=np.uint8) for _ in range(n)]
    audio = (0.1 * rng.standard_normal(int(n / rate * 16000))).astype(np.float32)
    write_video(path, frames, rate, audio, 16000)
    return frames


def test_dataset_from_a_real_video(tmp_path):
    _video(tmp_path / "clip.mp4", n=24)
    data = PictureData.from_folder(tmp_path, C)
    assert len(data) == 2 and data.images.shape[1:] == (3, 32, 32)  # one frame a second of a 2 s clip


def test_cli_keeps_size_and_frame_rate(tmp_path, tiny_set):
    from PIL import Image

    from engine.cli import main

    torch.manual_seed(0)
    model = Stylizer(C)
    torch.nn.init.normal_(model.gen.up[-1].weight, std=0.05)  # a visible change
    save_stylizer(model, tmp_path / "pkg")
    img = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(img)
    snd = next(tiny_set.glob("*_rain.flac"))
    assert main(["picture", str(img), "--sound", str(snd), "--model", str(tmp_path / "pkg"),
                 "-o", str(tmp_path / "out.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (50, 70, 3) and not np.array_equal(out, np.asarray(Image.open(img)))
    _video(tmp_path / "in.mp4")
    assert main(["picture", "--video", str(tmp_path / "in.mp4"), "--model", str(tmp_path / "pkg"),
                 "-o", str(tmp_path / "out.mp4")]) == 0
    frames, _t, audio, rate = read_video(tmp_path / "out.mp4", 16000)
    assert len(frames) == 6 and frames[0].shape == (40, 48, 3) and rate == 12 and audio is not None
    assert main(["picture", str(img), "--sound", str(snd), "--mix-weight", "2", "--mix", str(snd),
                 "--model", str(tmp_path / "pkg"), "-o", str(tmp_path / "bad.png")]) != 0


def test_mismatched_pairs_come_from_another_scene_and_enter_the_d_loss():
    from engine.visual.train import mismatched

    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 1, 2, 2, 3])
    for _ in range(5):
        other = mismatched(labels, g)
        assert (labels[other] != labels).all()
    assert mismatched(torch.zeros(3, dtype=torch.long), g).tolist() == [2, 0, 1]  # no labels: the next pair
    b = _batch(4)
    b["label"] = torch.eye(C.num_labels)[[0, 1, 0, 1]]
    losses = []
    for w in (0.0, 1.0):
        stage = PictureStage(PictureTrainConfig(model=C, mismatch_weight=w))
        x, y, cond, wrong, fake, idt, _g, _f = stage._forward(b, 0)
        assert (b["label"].argmax(1)[wrong] != b["label"].argmax(1)).all()
        losses.append(float(stage._d_loss(y, cond, wrong, fake).detach()))
    assert losses[1] > losses[0]  # the (real picture, wrong sound) -> fake term is there


def test_sound_reaches_the_output_past_the_upsampling_norms():
    """v1 modulated only before the up path's InstanceNorms (which remove a per-channel global shift);
    v2 also modulates after them: with the residual blocks' modulation off, only v2's output still
    depends on the embedding."""
    torch.manual_seed(0)
    b = _batch(2)
    x = b["image"][:1].expand(2, -1, -1, -1)
    emb = torch.randn(2, C.embed_dim)
    for film_up, expect in ((False, False), (True, True)):
        g = Stylizer(VisualConfig(**{**C.__dict__, "film_up": film_up})).gen
        torch.nn.init.normal_(g.up[-1].weight, std=0.05)
        for blk in g.dec:  # the decoder blocks' own modulation off: only what passes the up path
            torch.nn.init.zeros_(blk.film.weight), torch.nn.init.zeros_(blk.film.bias)
        out = g(x, emb)
        assert (not torch.allclose(out[0], out[1], atol=1e-6)) == expect


def test_v1_packages_load_with_their_recipe():
    cfg = {k: v for k, v in C.to_dict().items() if k not in ("audio_norm", "spectrum_skip", "film_up", "noise")}
    old = VisualConfig.from_dict(cfg)
    assert (old.audio_norm, old.spectrum_skip, old.film_up, old.noise) == ("batch", False, False, False)
    v2 = VisualConfig.from_dict({k: v for k, v in C.to_dict().items() if k != "noise"})
    assert v2 == VisualConfig(**{**C.__dict__, "noise": False})
    assert VisualConfig.from_dict(C.to_dict()) == C


def test_the_sound_sets_the_noise_input_and_the_default_noise_is_fixed():
    """Rain streaks are sparse random texture: the sound scales a per-pixel noise map. Without a given
    noise the map is fixed, so a picture and a sound always give one output (a video's frames share
    one rain pattern); a given noise map changes the texture."""
    torch.manual_seed(0)
    b = _batch(1)
    g = Stylizer(C).gen
    torch.nn.init.normal_(g.up[-1].weight, std=0.05)
    emb = torch.randn(1, C.embed_dim)
    quiet = g(b["image"], emb)
    torch.nn.init.normal_(g.noise_scale.weight, std=0.5)
    a, again = g(b["image"], emb), g(b["image"], emb)
    assert torch.equal(a, again) and not torch.allclose(a, quiet, atol=1e-5)
    other = g(b["image"], emb, noise=torch.randn(1, 1, C.image_px, C.image_px))
    assert not torch.allclose(a, other, atol=1e-5)
    assert Stylizer(VisualConfig(**{**C.__dict__, "noise": False})).gen.noise_scale is None


def test_a_package_without_noise_starts_a_run_with_it(tmp_path):
    """The shipped v3 package was trained on from v2's: every v2 weight carries over, the noise
    strengths start at zero, so the run starts from v2's function."""
    old = Stylizer(VisualConfig(**{**C.__dict__, "noise": False}))
    save_stylizer(old, tmp_path / "v2")
    stage = PictureStage(PictureTrainConfig(model=C, init_from=str(tmp_path / "v2")))
    new = stage.G.state_dict()
    for k, v in old.state_dict().items():
        assert torch.equal(v, new[k]), k
    assert not new["gen.noise_scale.weight"].any() and not new["gen.noise_scale.bias"].any()


SOUND_DIFF = 0.5  # mean abs difference, 0-255; the shipped v3 package: well above; v2's: 1.16 and 1.40


def test_the_shipped_checkpoint_follows_the_sound():
    """Two different sounds (and two levels of one) give different pictures with the shipped package."""
    from engine.visual.procedural import base_landscape, scene_sound
    from engine.visual.stylize import DEFAULT_MODEL, restyle_frames, sound_condition

    model = load_stylizer(DEFAULT_MODEL)
    assert model.config.image_px >= 128
    rng = np.random.default_rng([999, 0])
    x = (base_landscape(rng) * 255 + 0.5).astype(np.uint8)
    rain, water = scene_sound("rain", 0.8, 2.0, rng), scene_sound("water", 0.8, 2.0, rng)
    out = {k: restyle_frames([x], c, model)[0].astype(float)
           for k, c in {"rain": sound_condition(model, rain), "water": sound_condition(model, water),
                        "loud": sound_condition(model, rain, 12.0)}.items()}
    assert np.abs(out["rain"] - out["water"]).mean() > SOUND_DIFF
    assert np.abs(out["rain"] - out["loud"]).mean() > SOUND_DIFF


def _shipped_rain_setup(seed: int):
    """The shipped package, a held-out landscape (seed ``[999, seed]``), its rng, and the bench's
    rain-streak measure (thin near-vertical lines, read by a horizontal high-pass)."""
    import sys
    from pathlib import Path

    from engine.visual.procedural import base_landscape
    from engine.visual.stylize import DEFAULT_MODEL

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from bench_picture import streaks

    rng = np.random.default_rng([999, seed])
    return load_stylizer(DEFAULT_MODEL), (base_landscape(rng) * 255 + 0.5).astype(np.uint8), rng, streaks


def test_the_shipped_checkpoint_draws_more_rain_for_louder_rain():
    """Issue 16 (c): rain streaks grow with the rain's level; the v2 package drew none (0.018 at
    every gain, the input's own texture)."""
    from engine.visual.procedural import scene_sound
    from engine.visual.stylize import restyle_frames, sound_condition

    model, x, rng, streaks = _shipped_rain_setup(1)
    rain = scene_sound("rain", 0.5, 2.0, rng)
    s = [streaks(restyle_frames([x], sound_condition(model, rain, g), model)[0]) for g in (-12.0, 0.0, 12.0)]
    assert s[0] < s[1] < s[2] and s[2] > 2 * streaks(x), s


def test_a_mix_of_two_sounds_lands_between_them():
    """Issue 16 (c): rain mixed with birdsong thins the rain out step by step with the weight (the
    embeddings are weighed; a waveform mix switched the rain off at 10 % birdsong)."""
    from engine.visual.procedural import scene_sound
    from engine.visual.stylize import restyle_frames, sound_condition

    model, x, rng, streaks = _shipped_rain_setup(2)
    rain, birds = scene_sound("rain", 0.5, 2.0, rng), scene_sound("clear", 0.0, 2.0, rng)
    s = [streaks(restyle_frames([x], sound_condition(model, rain, 0.0, birds, w), model)[0]) for w in (0.0, 0.25, 0.5, 1.0)]
    assert s[0] > s[1] > s[2] > s[3], s
    alone = streaks(restyle_frames([x], sound_condition(model, rain), model)[0])
    assert s[0] == pytest.approx(alone, rel=1e-6)  # weight 0 is the first sound alone
