"""aiortc clients for the relay's tests and benchmark: a speaker playing a tone, a listener that
decodes what it hears and measures it. Real WebRTC (ICE, DTLS, SRTP, Opus) end to end."""

from __future__ import annotations

import asyncio
import fractions
import math
import sys
import time
from array import array
from collections.abc import Sequence
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms


class ToneTrack(MediaStreamTrack):
    """A sine tone, paced in real time, 20 ms frames of mono s16. `amplitude` (of full scale)
    may be changed while it plays: the next frame has the new level (aiortc's sender puts the
    frame's level, -20 log10(rms) dBov, in the RFC 6464 extension: 0.5 is -9 dBov)."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.5) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._sample = 0
        self._start: float | None = None
        # A tone with whole periods per frame (multiples of 50 Hz) repeats the same frame: many
        # speakers at once then cost no per-sample Python.
        self._periodic = (frequency * FRAME_SAMPLES) % SAMPLE_RATE == 0
        self._cached: tuple[float, bytes] | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._sample / SAMPLE_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(self._samples())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sample
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sample += FRAME_SAMPLES
        return frame

    def _samples(self) -> bytes:
        amplitude = self.amplitude
        if self._periodic and self._cached is not None and self._cached[0] == amplitude:
            return self._cached[1]
        step = 2 * math.pi * self.frequency / SAMPLE_RATE
        peak = 32767 * amplitude
        start = 0 if self._periodic else self._sample
        samples = array(
            "h", (int(peak * math.sin(step * (start + i))) for i in range(FRAME_SAMPLES))
        ).tobytes()
        if self._periodic:
            self._cached = (amplitude, samples)
        return samples


def goertzel_power(samples: array, frequency: float, rate: int = SAMPLE_RATE) -> float:
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def mono_samples(frame: AudioFrame) -> array:
    """The first channel of a decoded frame (aiortc decodes Opus to packed s16 stereo)."""
    data = array("h", bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)])
    channels = len(frame.layout.channels)
    return data[::channels] if channels > 1 else data


class ToneMeter:
    """Listens to one received track; tells tone from silence."""

    def __init__(self, frequency: float) -> None:
        self.frequency = frequency
        self.frames = 0
        self.tone_frames = 0  # frames where the tone dominates and is loud
        self.last_tone_at = 0.0
        self.last_frame_at = 0.0

    def feed(self, frame: AudioFrame) -> None:
        samples = mono_samples(frame)
        self.frames += 1
        self.last_frame_at = time.monotonic()
        if not samples:
            return
        rms = math.sqrt(sum(x * x for x in samples) / len(samples))
        if rms < 500:
            return
        # The tone's bin against bins well away from it (an octave down, a fifth up an octave).
        tone = goertzel_power(samples, self.frequency)
        others = max(
            goertzel_power(samples, self.frequency * 0.5),
            goertzel_power(samples, self.frequency * 1.5),
            goertzel_power(samples, self.frequency * 2.3),
        )
        if tone > 20 * others:
            self.tone_frames += 1
            self.last_tone_at = self.last_frame_at


# Sign of each sample with a dead band of +-256 (its high byte alone): 1..127 above, 128..254
# below, 0 and 255 (within the band) deleted; so noise around zero is not counted as crossings.
_SIGN = bytes(0 if b == 0 or b == 255 else (1 if b < 128 else 2) for b in range(256))


class ToneIdMeter:
    """Tells which of several tones a received track carries, frame by frame, by counting zero
    crossings (in C: bytes.translate and count), so a listener can meter many tracks of a
    room with many speakers cheaply. The tones should be at least 100 Hz apart."""

    def __init__(self, frequencies: Sequence[float], min_peak: int = 300) -> None:
        self.frequencies = list(frequencies)
        self.min_peak = min_peak
        self.frames: dict[float, int] = dict.fromkeys(self.frequencies, 0)
        self.last_heard: dict[float, float] = {}
        self.current: float | None = None

    def feed(self, frame: AudioFrame) -> None:
        samples = mono_samples(frame)
        self.current = None
        if not samples or max(max(samples), -min(samples)) < self.min_peak:
            return
        high = samples.tobytes()[1::2] if sys.byteorder == "little" else samples.tobytes()[::2]
        signs = high.translate(_SIGN).replace(b"\x00", b"")
        crossings = signs.count(b"\x01\x02") + signs.count(b"\x02\x01")
        estimate = crossings * SAMPLE_RATE / (2 * len(samples))
        nearest = min(self.frequencies, key=lambda f: abs(f - estimate))
        if abs(nearest - estimate) <= 40:
            self.current = nearest
            self.frames[nearest] += 1
            self.last_heard[nearest] = time.monotonic()


def client_config() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[])


class _Client:
    """A peer connection that decodes and meters every track it receives."""

    def __init__(self, listen_frequency: float, config: RTCConfiguration | None = None) -> None:
        self.pc = RTCPeerConnection(config or client_config())
        self.meters: list[ToneMeter] = []
        self.id_meters: list[ToneIdMeter] = []
        self.tones: Sequence[float] = ()  # set: meter which of these tones each track carries
        self._tasks: list[asyncio.Task[None]] = []
        self.listen_frequency = listen_frequency
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        meter: ToneMeter | ToneIdMeter
        if self.tones:
            meter = ToneIdMeter(self.tones)
            self.id_meters.append(meter)
        else:
            meter = ToneMeter(self.listen_frequency)
            self.meters.append(meter)
        self._tasks.append(asyncio.ensure_future(self._consume(track, meter)))

    def tone_counts(self) -> dict[float, int]:
        """Frames heard per tone over all tracks (with `tones` set)."""
        counts = dict.fromkeys(self.tones, 0)
        for meter in self.id_meters:
            for frequency, frames in meter.frames.items():
                counts[frequency] += frames
        return counts

    @staticmethod
    async def _consume(track: MediaStreamTrack, meter: ToneMeter | ToneIdMeter) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, AudioFrame)
                meter.feed(frame)
        except (MediaStreamError, asyncio.CancelledError):
            pass

    @property
    def tone_frames(self) -> int:
        return sum(m.tone_frames for m in self.meters)

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


class SpeakerClient(_Client):
    """Publishes a tone on a send-only m-line; optionally offers receive slots too."""

    def __init__(
        self, frequency: float = 440.0, listen_frequency: float = 440.0, amplitude: float = 0.5
    ) -> None:
        super().__init__(listen_frequency)
        self.track = ToneTrack(frequency, amplitude)

    async def offer(self, slots: int = 0) -> str:
        self.pc.addTransceiver(self.track, direction="sendonly")
        for _ in range(slots):
            self.pc.addTransceiver("audio", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp


class ListenerClient(_Client):
    """Offers `slots` receive-only m-lines. With `tones`, each track is metered for which of
    those tones it carries (`tone_counts`) instead of for `frequency` alone."""

    def __init__(
        self,
        frequency: float = 440.0,
        slots: int = 3,
        config: RTCConfiguration | None = None,
        tones: Sequence[float] = (),
    ) -> None:
        super().__init__(frequency, config)
        self.slots = slots
        self.tones = tuple(tones)

    async def offer(self) -> str:
        for _ in range(self.slots):
            self.pc.addTransceiver("audio", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp


async def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())
