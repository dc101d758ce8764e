"""Generated demo audio for the `make run` bot speaker: a slow jazz-ish chord progression,
arpeggiated with soft bell-like notes over a walking bass. Computed frame by frame in memory;
nothing is read from or written to disk."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from array import array

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
BEAT_S = 0.4  # one arpeggio note per beat
TAU = 2 * math.pi

# ii-V-I-vi in C: Dm7, G7, Cmaj7, Am7 (MIDI note numbers), two bars of 8 beats each.
PROGRESSION = [
    (38, [62, 65, 69, 72]),
    (43, [62, 65, 67, 71]),
    (36, [64, 67, 71, 72]),
    (45, [64, 67, 69, 72]),
]
BEATS_PER_CHORD = 8


def midi_hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def note_at(beat: int) -> tuple[float, float]:
    """(bass Hz, melody Hz) on a beat: the chord's root, and its tones up and down."""
    bass, tones = PROGRESSION[(beat // BEATS_PER_CHORD) % len(PROGRESSION)]
    pattern = [0, 1, 2, 3, 2, 1, 3, 2]
    return midi_hz(bass), midi_hz(tones[pattern[beat % len(pattern)]])


def render(start_sample: int, count: int, amplitude: float = 0.35) -> array:
    """`count` mono s16 samples starting at `start_sample` (a pure function of time)."""
    beat_samples = int(BEAT_S * SAMPLE_RATE)
    out = array("h", bytes(2 * count))
    peak = 32767 * amplitude
    for i in range(count):
        n = start_sample + i
        beat, offset = divmod(n, beat_samples)
        bass_hz, melody_hz = note_at(beat)
        t = n / SAMPLE_RATE
        since = offset / SAMPLE_RATE
        bell = math.exp(-3.0 * since) * (
            math.sin(TAU * melody_hz * t) + 0.25 * math.sin(TAU * 2 * melody_hz * t)
        )
        bass = 0.6 * math.sin(TAU * bass_hz * t) * (0.6 + 0.4 * math.exp(-2.0 * since))
        out[i] = int(peak * (0.55 * bell + 0.45 * bass))
    return out


class DemoMusicTrack(MediaStreamTrack):
    """The generated music as an audio track, paced in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._sample = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._sample / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(render(self._sample, FRAME_SAMPLES).tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sample
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sample += FRAME_SAMPLES
        return frame
