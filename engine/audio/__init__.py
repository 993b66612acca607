"""Audio I/O for Roomtone: probe, bounded-memory reading, atomic BWF-preserving writing,
resampling and BS.1770 loudness. Arrays are always float32 (frames, channels)."""

from engine.audio.info import AudioInfo
from engine.audio.loudness import LoudnessMeter, integrated_loudness
from engine.audio.probe import probe
from engine.audio.reader import AudioReader, read_audio
from engine.audio.resample import resample
from engine.audio.riff import read_chunks
from engine.audio.writer import AudioWriter, write_audio

__all__ = [
    "AudioInfo",
    "AudioReader",
    "AudioWriter",
    "LoudnessMeter",
    "integrated_loudness",
    "probe",
    "read_audio",
    "read_chunks",
    "resample",
    "write_audio",
]
