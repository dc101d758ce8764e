"""aiortc clients for the relay's tests and benchmark: a speaker playing a tone, a listener that
decodes what it hears and measures it. Real WebRTC (ICE, DTLS, SRTP, Opus) end to end."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from array import array
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms


class ToneTrack(MediaStreamTrack):
    """A sine tone, paced in real time, 20 ms frames of mono s16."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.5) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._sample = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._sample / SAMPLE_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        step = 2 * math.pi * self.frequency / SAMPLE_RATE
        peak = 32767 * self.amplitude
        samples = array(
            "h", (int(peak * math.sin(step * (self._sample + i))) for i in range(FRAME_SAMPLES))
        )
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sample
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sample += FRAME_SAMPLES
        return frame


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


def client_config() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[])


class _Client:
    """A peer connection that decodes and meters every track it receives."""

    def __init__(self, listen_frequency: float, config: RTCConfiguration | None = None) -> None:
        self.pc = RTCPeerConnection(config or client_config())
        self.meters: list[ToneMeter] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.listen_frequency = listen_frequency
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        meter = ToneMeter(self.listen_frequency)
        self.meters.append(meter)
        self._tasks.append(asyncio.ensure_future(self._consume(track, meter)))

    @staticmethod
    async def _consume(track: MediaStreamTrack, meter: ToneMeter) -> None:
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

    def __init__(self, frequency: float = 440.0, listen_frequency: float = 440.0) -> None:
        super().__init__(listen_frequency)
        self.track = ToneTrack(frequency)

    async def offer(self, slots: int = 0) -> str:
        self.pc.addTransceiver(self.track, direction="sendonly")
        for _ in range(slots):
            self.pc.addTransceiver("audio", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp


class ListenerClient(_Client):
    """Offers `slots` receive-only m-lines."""

    def __init__(
        self, frequency: float = 440.0, slots: int = 3, config: RTCConfiguration | None = None
    ) -> None:
        super().__init__(frequency, config)
        self.slots = slots

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
