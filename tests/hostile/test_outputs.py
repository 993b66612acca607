"""An output never lands on an input, and outputs are never read back as inputs."""

from __future__ import annotations

import os

import pytest

from tests.conftest import write_tone

PRESET = ("--preset", "Test Room")


def _output_path(kind: str, source, tmp_path, monkeypatch):
    if kind == "same":
        return source
    if kind == "relative":
        monkeypatch.chdir(source.parent)
        return os.path.join(".", "sub", "..", source.name)
    if kind == "symlink":
        link = tmp_path / "link.wav"
        link.symlink_to(source)
        return link
    link = tmp_path / "hard.wav"
    os.link(source, link)
    return link


@pytest.mark.parametrize("kind", ["same", "relative", "symlink", "hardlink"])
def test_preview_onto_its_input_is_refused(tmp_path, cli, monkeypatch, kind):
    source = write_tone(tmp_path / "take.wav", 1.0)
    (tmp_path / "sub").mkdir()
    before = source.read_bytes()
    out = _output_path(kind, source, tmp_path, monkeypatch)
    r = cli("preview", *PRESET, source, "-o", out)
    assert r.code == 1
    assert len(r.errors) == 1 and str(out) in r.errors[0] and "input" in r.errors[0], r.err
    assert source.read_bytes() == before


def test_restyle_into_its_input_folder_is_refused_before_any_render(tmp_path, cli):
    write_tone(tmp_path / "in" / "a.wav", 0.5)
    write_tone(tmp_path / "in" / "sub" / "b.wav", 0.5)
    before = {p: p.read_bytes() for p in (tmp_path / "in").rglob("*.wav")}
    (tmp_path / "link").symlink_to(tmp_path / "in")
    r = cli("restyle", "--quiet", *PRESET, "--overwrite", tmp_path / "in", "-o", tmp_path / "link")
    assert r.code == 1
    assert len(r.errors) == 1 and "input" in r.errors[0] and "-o" in r.errors[0], r.err
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "in" / "roomtone-manifest.json").exists()  # refused before anything ran


def test_output_onto_another_discovered_input_is_refused(tmp_path, cli):
    """a.wav's output would be a_x.wav, which is itself one of the inputs (with --overwrite: data loss)."""
    write_tone(tmp_path / "in" / "a.wav", 0.5)
    write_tone(tmp_path / "in" / "a_x.wav", 0.7)
    before = (tmp_path / "in" / "a_x.wav").read_bytes()
    r = cli("restyle", "--quiet", *PRESET, "--overwrite", "--name-template", "{stem}_x", tmp_path / "in",
            "-o", tmp_path / "in")
    assert r.code == 1
    assert len(r.errors) == 1 and "a_x.wav" in r.errors[0], r.err
    assert (tmp_path / "in" / "a_x.wav").read_bytes() == before
    assert not (tmp_path / "in" / "a_x_x.wav").exists()


def test_output_folder_inside_the_input_is_not_restyled_again(tmp_path, cli):
    write_tone(tmp_path / "in" / "a.wav", 0.5)
    for _ in range(3):
        r = cli("restyle", "--quiet", *PRESET, tmp_path / "in", "-o", tmp_path / "in" / "out")
        assert r.code == 0, r.err
    assert sorted(p.relative_to(tmp_path / "in").as_posix() for p in (tmp_path / "in").rglob("*.wav")) == [
        "a.wav", "out/a.wav"]
    assert r.out.startswith("0 rendered, 1 skipped, 0 failed")


def test_outputs_named_into_the_input_folder_are_not_restyled_again(tmp_path, cli):
    write_tone(tmp_path / "in" / "a.wav", 0.5)
    write_tone(tmp_path / "in" / "sub" / "b.wav", 0.5)
    for _ in range(3):
        r = cli("restyle", "--quiet", *PRESET, "--name-template", "{stem}_rt", tmp_path / "in",
                "-o", tmp_path / "in")
        assert r.code == 0, r.err
    assert sorted(p.relative_to(tmp_path / "in").as_posix() for p in (tmp_path / "in").rglob("*.wav")) == [
        "a.wav", "a_rt.wav", "sub/b.wav", "sub/b_rt.wav"]
    assert r.out.startswith("0 rendered, 2 skipped, 0 failed")
    assert "roomtone-manifest.json" not in r.err  # our own manifest is no input to note either
