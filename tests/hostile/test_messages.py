"""One failure, one line: printed once, and a file name cannot split it."""

from __future__ import annotations

from tests.conftest import write_tone

PRESET = ("--preset", "Test Room")


def test_each_error_is_printed_once(tmp_path, cli):
    write_tone(tmp_path / "in" / "good.wav", 0.3)
    (tmp_path / "in" / "bad.wav").write_text("nope")
    (tmp_path / "in" / "worse.wav").write_bytes(b"")
    r = cli("restyle", "--quiet", *PRESET, tmp_path / "in", "-o", tmp_path / "out")
    assert r.code == 1
    assert [e for e in r.errors if "bad.wav" in e] == [f"error: {tmp_path / 'in' / 'bad.wav'}: not a recognised audio file"]
    assert len([e for e in r.errors if "worse.wav" in e]) == 1 and len(r.errors) == 2, r.err


def test_a_newline_in_a_file_name_does_not_split_its_line(tmp_path, cli):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "take 1\nerror: fake.wav").write_text("nope")
    (tmp_path / "in" / "notes\r\x1b[2J.txt").write_text("not audio either")
    r = cli("restyle", "--quiet", *PRESET, tmp_path / "in", "-o", tmp_path / "out")
    assert r.code == 1
    assert r.errors == [f"error: {tmp_path / 'in'}/take 1\\nerror: fake.wav: not a recognised audio file"], r.err
    assert "\r" not in r.err and "\x1b" not in r.err and "notes\\r\\x1b[2J.txt" in r.err


def test_printable_escapes_only_what_would_hide_or_split():
    from engine.errors import printable

    assert printable("café\\take 1.wav") == "café\\take 1.wav"
    assert printable("a\nb\tc\x00") == "a\\nb\\tc\\x00"
    assert printable("caf\udce9.wav") == "caf\\xe9.wav"  # a byte that is no UTF-8, as os.fsdecode gives it
