"""The C send loop (media_relay/fastpath.c): built, byte-for-byte what the Python loop sends, and
used end to end by the relay's outlets."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator

import pylibsrtp
import pytest
from aiortc.rtp import RtpPacket

from media_relay import fastpath, libsrtp
from media_relay.aiortc_internals.checks import AiortcInternalsError
from media_relay.forwarder import Forwarder
from media_relay.libsrtp import (
    fast_protect,
    srtp_context_address,
    srtp_protect_address,
)
from media_relay.send_profile import SendProfile
from media_relay.testing import wait_for
from tests.media_relay.conftest import SPEAKER, Stage
from tests.media_relay.test_relay_media import hears_tone

needs_c = pytest.mark.usefixtures("c_loop")  # tests/media_relay/conftest.py
OPUS = SendProfile(payload_type=111, clock_rate=48_000, audio_level_id=1)
PLAIN = SendProfile(payload_type=109, clock_rate=48_000, audio_level_id=0)
KEY = bytes(range(30))  # master key + salt, AES-CM-128 / HMAC-SHA1-80


def test_the_c_loop_is_built() -> None:
    """`make` builds it; if this fails the relay silently pays the Python loop's CPU. Only an
    explicit RELAY_FASTPATH=0 turns it off, and then the relay says so."""
    if os.environ.get("RELAY_FASTPATH", "1") == "0":
        assert fastpath.status() == "python: disabled (RELAY_FASTPATH=0)"
        return
    assert fastpath.available(), fastpath.status()
    assert fastpath.status() == "c"


def test_a_changed_srtp_protect_signature_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loop calls pylibsrtp's srtp_protect through a pointer: if an upgrade changed its
    signature (libsrtp 3 did), taking the address must refuse rather than crash later."""
    assert srtp_protect_address() != 0
    monkeypatch.setattr(libsrtp, "_SRTP_PROTECT_TYPE", "<ctype 'int(*)(void *, char *, size_t)'>")
    with pytest.raises(AiortcInternalsError, match="srtp_protect"):
        srtp_protect_address()


def _session(direction: int) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(
        key=KEY, ssrc_type=direction, srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    )
    return pylibsrtp.Session(policy)


class SocketOutlet:
    """One listener on a real UDP socket: the Python loop's send (fast_protect + sendto), or a C
    target on the same kind of session; `sink` receives what went on the wire."""

    def __init__(self, ssrc: int, c_loop: bool) -> None:
        self.ssrc = ssrc
        self.session = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.bind(("127.0.0.1", 0))
        self.sink.settimeout(1.0)
        self.addr = self.sink.getsockname()
        self._protect = fast_protect(self.session)
        self._packets = self._octets = 0
        self.fast_target = None
        if c_loop:
            self.fast_target = fastpath.new_target(-1)
            assert fastpath.target_set(
                self.fast_target,
                srtp_context_address(self.session),
                self.sock.fileno(),
                self.addr,
                ssrc,
            )

    @property
    def packets(self) -> int:
        t = self.fast_target
        return self._packets + (int(t.packets) if t is not None else 0)

    @property
    def octets(self) -> int:
        t = self.fast_target
        return self._octets + (int(t.octets) if t is not None else 0)

    def send(self, packet: bytes, payload_octets: int) -> bool:
        self.sock.sendto(self._protect(packet), self.addr)
        self._packets += 1
        self._octets += payload_octets
        return True

    def sync_sender_report(self, rtp_timestamp: int, unix_time: float) -> None:
        pass

    def received(self, count: int) -> list[bytes]:
        return [self.sink.recv(2048) for _ in range(count)]

    def close(self) -> None:
        self.sock.close()
        self.sink.close()


@pytest.fixture
def outlets() -> Iterator[list[SocketOutlet]]:
    made: list[SocketOutlet] = []
    yield made
    for outlet in made:
        outlet.close()


def _packets() -> list[tuple[int, RtpPacket]]:
    """Two speakers, audio levels from voice to silence, one packet without the extension."""
    out = []
    for i in range(12):
        speaker = 1 if i < 8 else 2
        p = RtpPacket(
            payload_type=111,
            sequence_number=1000 + i,
            timestamp=960 * i,
            ssrc=0xAAAA0000 + speaker,
            payload=bytes([i]) * (20 + i),
        )
        if i != 5:
            p.extensions.audio_level = (True, 10 + i)
        out.append((speaker, p))
    return out


@needs_c
def test_c_and_python_loops_put_the_same_bytes_on_the_wire(outlets: list[SocketOutlet]) -> None:
    """The same forwarder decisions through both loops, listeners on two layouts (with and
    without the audio-level extension): identical SRTP datagrams, which decrypt to the packet."""
    forwarders = {}
    for c_loop in (False, True):
        forwarder = Forwarder(2, clock=lambda: 100.0)
        forwarder.publisher_add(1, True)
        forwarder.publisher_add(2, True)
        for listener, profile in ((10, OPUS), (11, PLAIN), (12, OPUS)):
            outlet = SocketOutlet(0x5000 + listener, c_loop)
            outlets.append(outlet)
            forwarder.listener_add(listener, [(outlet, profile), (outlet, profile)])
        forwarders[c_loop] = forwarder
    for forwarder in forwarders.values():
        random.seed(4)  # the same random start of sequence number and timestamp on both
        for speaker, packet in _packets():
            forwarder.on_packet(speaker, packet)

    python_side, c_side = outlets[:3], outlets[3:]
    assert all(o.fast_target is None for o in python_side)
    assert all(o.fast_target is not None for o in c_side)
    for py, c in zip(python_side, c_side, strict=True):
        assert py.packets == c.packets == 12
        assert py.octets == c.octets
        sent_py, sent_c = py.received(12), c.received(12)
        assert sent_py == sent_c
        inbound = _session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
        first = RtpPacket.parse(inbound.unprotect(sent_c[0]))
        assert first.ssrc == c.ssrc
        assert first.payload == bytes([0]) * 20
    assert forwarders[True].stats.packets_out == forwarders[False].stats.packets_out == 36


@needs_c
def test_c_loop_passes_over_the_speaker_and_counts_disconnected_listeners(
    outlets: list[SocketOutlet],
) -> None:
    forwarder = Forwarder(1, clock=lambda: 100.0)
    forwarder.publisher_add(10, True)  # a speaker who is also a listener of the room
    for listener in (10, 11, 12):
        outlet = SocketOutlet(0x6000 + listener, c_loop=True)
        outlets.append(outlet)
        forwarder.listener_add(listener, [(outlet, OPUS)])
    fastpath.target_disable(outlets[2].fast_target)  # its transport left "connected"
    _, packet = _packets()[0]
    forwarder.on_packet(10, packet)

    assert [o.packets for o in outlets] == [0, 1, 0]
    assert forwarder.stats.packets_out == 1
    assert forwarder.stats.send_skipped == 1
    assert (
        RtpPacket.parse(
            _session(pylibsrtp.Policy.SSRC_ANY_INBOUND).unprotect(outlets[1].received(1)[0])
        ).ssrc
        == outlets[1].ssrc
    )


@needs_c
def test_a_failed_send_is_a_skip_not_an_error(outlets: list[SocketOutlet]) -> None:
    """A socket closed under the loop (EBADF) or full: the packet is dropped, as real-time audio
    wants, and counted; the loop goes on to the next listener."""
    forwarder = Forwarder(1, clock=lambda: 100.0)
    forwarder.publisher_add(1, True)
    for listener in (10, 11):
        outlet = SocketOutlet(0x7000 + listener, c_loop=True)
        outlets.append(outlet)
        forwarder.listener_add(listener, [(outlet, OPUS)])
    outlets[0].sock.close()
    _, packet = _packets()[0]
    forwarder.on_packet(1, packet)

    assert forwarder.stats.send_skipped == 1
    assert forwarder.stats.packets_out == 1
    assert outlets[0].fast_target.errors == 1
    assert outlets[0].packets == 0
    assert outlets[1].packets == 1
    assert len(outlets[1].received(1)) == 1


@needs_c
def test_target_set_rejects_a_name_instead_of_an_address() -> None:
    target = fastpath.new_target(1)
    assert not fastpath.target_set(target, 0, 3, ("localhost", 5000), 1)
    assert target.fd == -1
    assert fastpath.target_set(target, 0, 3, ("::1", 5000, 0, 0), 1)
    assert target.fd == 3


# --- end to end: the relay's outlets on real aiortc connections ----------------------------------


@needs_c
async def test_the_relays_outlets_send_through_the_c_loop(stage: Stage) -> None:
    await stage.speaker()
    listeners = [await stage.listener(100 + i) for i in range(2)]
    assert await hears_tone(listeners)
    outlets = [o for uid in (100, 101) for o in stage.room.peers[uid].outlets]
    assert outlets
    assert all(o.fast_target is not None for o in outlets)
    active = [o for o in outlets if o.packets]
    assert len(active) == 2  # one slot carries the speaker to each listener
    assert all(o.fast_target.fd >= 0 and o.fast_target.errors == 0 for o in active)


@needs_c
async def test_a_closed_listener_disables_its_c_target(stage: Stage) -> None:
    await stage.speaker()
    kept, leaving = await stage.listener(100), await stage.listener(101)
    assert await hears_tone([kept, leaving])
    targets = [o.fast_target for o in stage.room.peers[101].outlets]
    await leaving.close()  # the client goes away; the relay's DTLS transport closes
    assert await wait_for(lambda: all(t.fd == -1 for t in targets), 10.0)
    assert await hears_tone([kept])


async def test_the_python_loop_still_carries_the_tone(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the C loop is not built (no compiler) the relay works the same, in Python."""
    monkeypatch.setattr(fastpath, "_lib", None)
    await stage.speaker()
    listener = await stage.listener(100)
    assert await hears_tone([listener])
    outlets = stage.room.peers[100].outlets
    assert all(o.fast_target is None for o in outlets)
    assert sum(o.packets for o in outlets) > 0
    assert stage.room.forwarder.publishers[SPEAKER].slot is not None
