"""Generated demo audio for the `make run` bot speakers: a slow jazz-ish chord progression,
arpeggiated with soft bell-like notes over a walking bass. Computed frame by frame in memory;
nothing is read from or written to disk.

Several bots play one tune in turns: each has its own part (register, arpeggio, timbre) and
plays only during its turns, sending silence otherwise. Turns are a pure function of one shared
clock, so the bots agree on whose turn it is without talking to each other, and the music
carries on from one part to the next."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from array import array
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Part:
    transpose: int  # semitones added to the melody
    pattern: tuple[int, ...]  # which chord tone on each beat
    overtone: float  # how much of the octave above: more sounds brassier


# One part per bot: the first is the original bells; the others play an octave below (rising and
# falling, brassier) and an octave above (skipping), so a listener hears who took over.
PARTS = [
    Part(0, (0, 1, 2, 3, 2, 1, 3, 2), 0.25),
    Part(-12, (3, 2, 1, 0, 1, 2, 0, 1), 0.6),
    Part(12, (0, 2, 1, 3, 0, 3, 2, 1), 0.1),
]


def midi_hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def note_at(beat: int, part: int = 0) -> tuple[float, float]:
    """(bass Hz, melody Hz) on a beat: the chord's root, and its tones up and down."""
    bass, tones = PROGRESSION[(beat // BEATS_PER_CHORD) % len(PROGRESSION)]
    voice = PARTS[part % len(PARTS)]
    tone = tones[voice.pattern[beat % len(voice.pattern)]]
    return midi_hz(bass), midi_hz(tone + voice.transpose)


def render(start_sample: int, count: int, amplitude: float = 0.35, part: int = 0) -> array:
    """`count` mono s16 samples of `part` starting at `start_sample` (a pure function of time)."""
    beat_samples = int(BEAT_S * SAMPLE_RATE)
    overtone = PARTS[part % len(PARTS)].overtone
    out = array("h", bytes(2 * count))
    peak = 32767 * amplitude
    for i in range(count):
        n = start_sample + i
        beat, offset = divmod(n, beat_samples)
        bass_hz, melody_hz = note_at(beat, part)
        t = n / SAMPLE_RATE
        since = offset / SAMPLE_RATE
        bell = math.exp(-3.0 * since) * (
            math.sin(TAU * melody_hz * t) + overtone * math.sin(TAU * 2 * melody_hz * t)
        )
        bass = 0.6 * math.sin(TAU * bass_hz * t) * (0.6 + 0.4 * math.exp(-2.0 * since))
        out[i] = int(peak * (0.55 * bell + 0.45 * bass))
    return out


@dataclass(frozen=True)
class Turns:
    """Who plays when: `players` take turns of `turn_s` seconds, round and round, on one clock.

    Each turn ends with `rest_s` of silence, longer than the relay's speaking hang time (0.6 s,
    media_relay/forwarder.py), so one speaker's ring goes out before the next one's lights up.
    A single player plays all the time."""

    players: int = 1
    turn_s: float = 8.0
    rest_s: float = 1.0

    def playing(self, player: int, sample: int) -> bool:
        if self.players <= 1:
            return True
        turn_samples = int(self.turn_s * SAMPLE_RATE)
        turn, offset = divmod(sample, turn_samples)
        return turn % self.players == player and offset < turn_samples - int(
            self.rest_s * SAMPLE_RATE
        )


class DemoMusicTrack(MediaStreamTrack):
    """Player `player`'s part of the generated music as an audio track, paced in real time:
    music during its turns, silence (which the relay sees as not speaking) in between.

    `epoch` (a `time.monotonic()` value) is the clock the players share: sample 0 is then, so
    every track of one band, and a track made again after a reconnection, agree on the time."""

    kind = "audio"

    def __init__(
        self, player: int = 0, turns: Turns | None = None, epoch: float | None = None
    ) -> None:
        super().__init__()
        self.player = player
        self.turns = turns or Turns()
        self._epoch = time.monotonic() if epoch is None else epoch
        self._sample: int | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._sample is None:  # start on the shared clock, on a frame boundary
            elapsed = max(0.0, time.monotonic() - self._epoch)
            self._sample = int(elapsed * SAMPLE_RATE) // FRAME_SAMPLES * FRAME_SAMPLES
        delay = self._epoch + self._sample / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        if self.turns.playing(self.player, self._sample):
            frame.planes[0].update(render(self._sample, FRAME_SAMPLES, part=self.player).tobytes())
        else:
            frame.planes[0].update(bytes(2 * FRAME_SAMPLES))
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sample
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sample += FRAME_SAMPLES
        return frame
