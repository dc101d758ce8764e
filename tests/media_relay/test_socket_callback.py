"""Receiver reports and consent checks handled in the socket callback (`SocketDemux`), with
real aiortc/aioice connections: what aiortc and aioice did with them, they still get."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
import pytest
from aioice import stun as aioice_stun
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.rtp import (
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSdesPacket,
    RtcpSourceInfo,
)

from media_relay import stun
from media_relay.aiortc_internals.consent import ConsentFreshness, consent_of
from media_relay.aiortc_internals.receive import SocketDemux, socket_demux
from media_relay.aiortc_internals.stats import RemoteInbound
from media_relay.rtcp import Reports, compound_parts
from media_relay.testing import wait_for
from tests.media_relay.conftest import Stage


def _block(ssrc: int, lsr: int = 0, dlsr: int = 0, jitter: int = 7) -> RtcpReceiverInfo:
    return RtcpReceiverInfo(
        ssrc=ssrc,
        fraction_lost=3,
        packets_lost=2,
        highest_sequence=1000,
        jitter=jitter,
        lsr=lsr,
        dlsr=dlsr,
    )


def _remote_inbound(stats: Any) -> Any:
    return next(s for s in stats.values() if s.type == "remote-inbound-rtp")


async def test_a_report_updates_round_trip_time_and_stats_as_aiortcs_handler_does() -> None:
    pc = RTCPeerConnection()
    theirs = pc.addTransceiver("audio", direction="sendrecv").sender
    ours = pc.addTransceiver("audio", direction="sendrecv").sender
    try:
        sent_at = time.time() - 0.25
        for sender in (theirs, ours):
            sender._RTCRtpSender__lsr = 0x12345678  # type: ignore[attr-defined]
            sender._RTCRtpSender__lsr_time = sent_at  # type: ignore[attr-defined]
            sender._RTCRtpSender__packet_count = 500  # type: ignore[attr-defined]
        # the first estimate, then one smoothed with it (aiortc's RTT_ALPHA), then a report
        # without DLSR (no estimate)
        for dlsr in (65536 // 10, 65536 // 20, 0):
            for sender in (theirs, ours):
                packet = RtcpRrPacket(ssrc=99, reports=[_block(sender._ssrc, 0x12345678, dlsr)])
                if sender is theirs:
                    with pytest.raises(StopIteration):
                        sender._handle_rtcp_packet(packet).send(None)
                else:
                    parts = compound_parts(bytes(packet))
                    assert parts is not None
                    assert isinstance(parts[0], Reports)
                    RemoteInbound.of(sender).report(99, parts[0].blocks[0], time.time())
            their_rtt = theirs._RTCRtpSender__rtt  # type: ignore[attr-defined]
            assert abs(ours._RTCRtpSender__rtt - their_rtt) < 0.005  # type: ignore[attr-defined]
        expected = _remote_inbound(await theirs.getStats())
        got = _remote_inbound(await ours.getStats())
        for name in ("type", "ssrc", "kind", "transportId", "packetsReceived", "packetsLost"):
            assert getattr(got, name) == getattr(expected, name), name
        for name in ("jitter", "fractionLost"):
            assert getattr(got, name) == getattr(expected, name), name
        assert abs(got.roundTripTime - expected.roundTripTime) < 0.005
        assert abs((got.timestamp - expected.timestamp).total_seconds()) < 1.0
        assert got.id == f"remote-inbound-rtp_{id(ours)}"
    finally:
        await pc.close()


async def test_listeners_receiver_reports_skip_aiortcs_handler(stage: Stage) -> None:
    await stage.speaker()
    listener = await stage.listener(100)
    assert await wait_for(lambda: listener.tone_frames > 5, 6.0)
    sender = stage.room.peers[100].outlets[0].sender
    demux = socket_demux(sender.transport)
    assert demux is not None
    aiortc_handled = _spy_rtcp_handler(sender)
    connection = sender.transport.transport._connection
    queued: list[bytes] = []
    queue_datagram = connection.data_received

    def spy(data: bytes, component: int) -> None:
        queued.append(data)
        queue_datagram(data, component)

    connection.data_received = spy
    reports = demux.reports
    # aiortc clients send a receiver report about every second, with LSR/DLSR once the relay's
    # sender report (every ~5 s) reached them: the round-trip time appears in getStats.
    assert await wait_for(lambda: demux.reports >= reports + 2, 6.0)

    async def round_trip() -> float | None:
        rtt: float | None = _remote_inbound(await sender.getStats()).roundTripTime
        return rtt

    deadline = time.monotonic() + 12.0
    while await round_trip() is None and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.25)  # the stats have no event to await: poll them
    rtt = await round_trip()
    assert rtt is not None
    assert 0 <= rtt < 1.0
    assert _remote_inbound(await sender.getStats()).packetsReceived > 0
    assert aiortc_handled == []
    assert not [d for d in queued if 191 < d[1] < 209]  # and none went through aioice's queue


def _spy_rtcp_handler(recipient: Any) -> list[Any]:
    handled: list[Any] = []
    aiortc_handler = recipient._handle_rtcp_packet

    async def spy(packet: Any) -> None:
        handled.append(packet)
        await aiortc_handler(packet)

    recipient._handle_rtcp_packet = spy
    return handled


async def _listener_rtcp(stage: Stage) -> tuple[RTCRtpSender, SocketDemux, Callable[[bytes], None]]:
    """A relay sender to a listener, its demux, and a way to send SRTCP from that listener."""
    await stage.speaker()
    listener = await stage.listener(100)
    assert await wait_for(lambda: listener.tone_frames > 5, 6.0)
    sender = stage.room.peers[100].outlets[0].sender
    demux = socket_demux(sender.transport)
    assert demux is not None
    pair = sender.transport.transport._connection._nominated[1]
    client_srtp = listener.pc.getTransceivers()[0].receiver.transport._tx_srtp

    def send(plain: bytes) -> None:
        pair.protocol.datagram_received(client_srtp.protect_rtcp(plain), pair.remote_addr)

    return sender, demux, send


async def test_a_compound_takes_reports_lean_and_gives_the_rest_to_aiortc(stage: Stage) -> None:
    sender, demux, send = await _listener_rtcp(stage)
    aiortc_handled = _spy_rtcp_handler(sender)
    sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=77, items=[(1, b"listener")])])
    pli = RtcpPsfbPacket(fmt=1, ssrc=77, media_ssrc=sender._ssrc)
    rr = RtcpRrPacket(ssrc=77, reports=[_block(sender._ssrc, jitter=4242), _block(12345)])
    reports = demux.reports
    send(bytes(rr) + bytes(sdes) + bytes(pli))
    assert RemoteInbound.of(sender).jitter == 4242
    assert demux.reports == reports + 1
    assert aiortc_handled == [pli]
    # aiortc's entry from the PLI's handler did not hide the lean report's
    assert _remote_inbound(await sender.getStats()).jitter == 4242

    # A compound aiortc's parser refuses is dropped whole: its valid RR is not taken either.
    rr = RtcpRrPacket(ssrc=77, reports=[_block(sender._ssrc, jitter=777)])
    send(bytes(rr) + bytes([0x81, 202, 0, 1, 0, 0, 0, 77]) + bytes([0x81, 202, 0, 0]))
    assert RemoteInbound.of(sender).jitter != 777
    assert aiortc_handled == [pli]


async def test_a_speakers_sender_reports_still_reach_aiortcs_receiver(stage: Stage) -> None:
    await stage.speaker()
    listener = await stage.listener(100)
    assert await wait_for(lambda: listener.tone_frames > 5, 6.0)
    receiver = stage.room.peers[1].publish_receiver
    assert receiver is not None
    handled = _spy_rtcp_handler(receiver)
    assert await wait_for(lambda: any(type(p).__name__ == "RtcpSrPacket" for p in handled), 6.0)


# --- consent checks ---------------------------------------------------------------------------


class _Wire:
    """The relay side of one listener's nominated ICE pair, with what it sends and what reaches
    aioice recorded."""

    def __init__(self, sender: RTCRtpSender, forward_to_aioice: bool = True) -> None:
        self.connection = sender.transport.transport._connection
        self.pair = self.connection._nominated[1]
        self.protocol = self.pair.protocol
        self.sent: list[bytes] = []
        self.to_aioice: list[tuple[Any, Any]] = []
        transport = self.protocol.transport
        sendto = transport.sendto
        request_received = self.connection.request_received

        def spy_sendto(data: bytes, addr: Any = None) -> None:
            self.sent.append(data)
            sendto(data, addr)

        def spy_request(message: Any, addr: Any, protocol: Any) -> None:
            self.to_aioice.append((message, addr))
            if forward_to_aioice:
                request_received(message, addr, protocol)

        transport.sendto = spy_sendto
        self.connection.request_received = spy_request

    def check(self, key: bytes | None = None, **attributes: Any) -> bytes:
        """A consent check as the listener would send it (wrong `key`: signed with that)."""
        connection = self.connection
        request = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
        request.attributes["USERNAME"] = f"{connection.local_username}:{connection.remote_username}"
        request.attributes["PRIORITY"] = 1853824767
        request.attributes.update(attributes)
        request.add_message_integrity(key or connection.local_password.encode())
        return bytes(request)

    def responses(self, message_class: aioice_stun.Class) -> list[aioice_stun.Message]:
        found = []
        for data in self.sent:
            try:
                message = aioice_stun.parse_message(data)
            except ValueError:
                continue
            if message.message_class == message_class:
                found.append(message)
        return found


async def test_consent_checks_are_answered_in_the_socket_callback(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    sender, demux, _ = await _listener_rtcp(stage)
    wire = _Wire(sender)
    listener = stage.clients[1]
    answered = demux.consent_answers
    # Well past CONSENT_FAILURES x the interval: the listener's checks all succeed.
    await asyncio.sleep(aioice.ice.CONSENT_FAILURES * 0.2 * 1.2 + 1.0)
    assert demux.consent_answers >= answered + aioice.ice.CONSENT_FAILURES
    assert wire.to_aioice == []
    assert listener.pc.connectionState == "connected"
    before = listener.tone_frames
    assert await wait_for(lambda: listener.tone_frames > before + 5, 6.0)
    key = wire.connection.local_password.encode()
    for response in wire.responses(aioice_stun.Class.RESPONSE):  # parse_message checked CRC
        assert response.check_message_integrity(key)
        assert response.attributes["XOR-MAPPED-ADDRESS"] == wire.pair.remote_addr
    assert len(wire.responses(aioice_stun.Class.RESPONSE)) >= aioice.ice.CONSENT_FAILURES


async def test_a_check_with_a_wrong_password_gets_aioices_401(stage: Stage) -> None:
    sender, demux, _ = await _listener_rtcp(stage)
    wire = _Wire(sender)
    answered = demux.consent_answers
    wire.protocol.datagram_received(wire.check(key=b"not the password"), wire.pair.remote_addr)
    assert len(wire.to_aioice) == 1
    (error,) = wire.responses(aioice_stun.Class.ERROR)
    assert error.attributes["ERROR-CODE"][0] == 401
    assert demux.consent_answers == answered


async def test_checks_aioice_must_see_go_to_aioice(stage: Stage) -> None:
    sender, demux, _ = await _listener_rtcp(stage)
    wire = _Wire(sender, forward_to_aioice=False)
    host, port = wire.pair.remote_addr
    answered = demux.consent_answers
    wire.protocol.datagram_received(wire.check(), (host, port + 1))  # another address
    # the relay is the controlled agent: ICE-CONTROLLED from the peer is a role conflict
    assert not wire.connection.ice_controlling
    wire.protocol.datagram_received(wire.check(**{"ICE-CONTROLLED": 1}), (host, port))
    wire.protocol.datagram_received(wire.check(**{"ICE-CONTROLLING": 1}), (host, port))
    assert [addr for _, addr in wire.to_aioice] == [(host, port + 1), (host, port)]
    assert demux.consent_answers == answered + 1


async def test_use_candidate_on_the_nominated_pair_is_answered_and_keeps_it(stage: Stage) -> None:
    sender, demux, _ = await _listener_rtcp(stage)
    wire = _Wire(sender, forward_to_aioice=False)
    answered = demux.consent_answers
    check = wire.check(**{"ICE-CONTROLLING": 1, "USE-CANDIDATE": None})
    wire.protocol.datagram_received(check, wire.pair.remote_addr)
    assert demux.consent_answers == answered + 1
    assert wire.to_aioice == []
    assert wire.connection._nominated[1] is wire.pair
    assert wire.pair.nominated
    (response,) = wire.responses(aioice_stun.Class.RESPONSE)
    assert response.transaction_id == check[8:20]


# --- the relay's own consent checks -----------------------------------------------------------


async def test_the_relays_consent_checks_keep_a_live_peer_connected(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    sender, _, _ = await _listener_rtcp(stage)
    connection = sender.transport.transport._connection
    consent = consent_of(connection)
    assert consent is not None
    task = connection._query_consent_task
    assert task is not None
    assert task.get_coro().__qualname__ == "ConsentFreshness.run"
    requests, lean = consent.requests, consent.lean_responses
    await asyncio.sleep(aioice.ice.CONSENT_FAILURES * 0.2 * 1.2 + 1.0)
    assert consent.requests >= requests + aioice.ice.CONSENT_FAILURES
    assert consent.lean_responses >= lean + aioice.ice.CONSENT_FAILURES - 1
    assert consent.failures == 0
    assert not connection._closing
    listener = stage.clients[1]
    before = listener.tone_frames
    assert await wait_for(lambda: listener.tone_frames > before + 5, 6.0)


async def test_consent_expiry_closes_a_connection_whose_peer_stops_answering(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    sender, _, _ = await _listener_rtcp(stage)
    consent = consent_of(sender.transport.transport._connection)
    assert consent is not None
    listener = stage.clients[1]
    client_connection = listener.pc.getTransceivers()[0].receiver.transport.transport._connection
    outlets = stage.room.peers[100].outlets
    relay_connection = sender.transport.transport._connection
    sockets_closed_with_c_target_on: list[bool] = []
    close = relay_connection.close

    async def close_and_check() -> None:
        # what the C send loop sees at the moment aioice starts closing the sockets
        sockets_closed_with_c_target_on.extend(
            o.fast_target is not None and o.fast_target.fd >= 0 for o in outlets
        )
        await close()

    relay_connection.close = close_and_check
    client_connection.request_received = lambda *args: None  # the listener stops answering
    # CONSENT_FAILURES rounds of (interval + 0.5 s without an answer), about 4.5 s, then the
    # relay closes; a loaded machine fires those timers late, so the wait is generous. The room
    # lets go of the peer first and reports it closed once its connection has finished
    # closing (`_peer_close` awaits it): wait for the report, which is what the member gets.
    assert await wait_for(lambda: [c[1] for c in stage.closed] == [100], 30.0), stage.closed
    assert 100 not in stage.room.peers
    assert consent.failures >= aioice.ice.CONSENT_FAILURES
    assert sockets_closed_with_c_target_on
    assert not any(sockets_closed_with_c_target_on)


class _Protocol:
    def __init__(self) -> None:
        self.transactions: dict[bytes, Any] = {}
        self.sent: list[bytes] = []
        self.transport = self

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append(data)


class _Pair:
    def __init__(self) -> None:
        self.protocol = _Protocol()
        self.remote_addr = ("192.0.2.1", 9)
        self.component = 1


class _Connection:
    """What ConsentFreshness reads of an aioice Connection."""

    def __init__(self) -> None:
        self.pair = _Pair()
        self._nominated = {1: self.pair}
        self._closing = False
        self.local_username, self.remote_username = "relay", "peer"
        self.remote_password = "peer-password"
        self.ice_controlling = False
        self._tie_breaker = 5
        self._query_consent_task: Any = None
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


async def test_consent_counts_failures_as_aioice_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.01)
    monkeypatch.setattr(aioice_stun, "RETRY_RTO", 0.05)
    connection = _Connection()
    protocol = connection.pair.protocol
    consent = ConsentFreshness(connection)
    connection._query_consent_task = task = asyncio.create_task(consent.run())
    key = connection.remote_password.encode()

    async def next_request() -> bytes:
        count = len(protocol.sent)
        assert await wait_for(lambda: len(protocol.sent) > count, 2.0, interval=0.005)
        request = protocol.sent[-1]
        parsed = aioice_stun.parse_message(request)
        assert parsed.check_message_integrity(key)
        assert parsed.attributes["USERNAME"] == "peer:relay"
        assert parsed.attributes["ICE-CONTROLLED"] == 5
        assert parsed.transaction_id in protocol.transactions
        return request

    # two timeouts, then a success: the count starts again
    await next_request()
    await next_request()
    request = await next_request()
    assert consent.failures == 2
    tid = request[8:20]
    forged = stun.binding_success(tid, connection.pair.remote_addr, b"not the password")
    assert consent.response_bytes(forged, protocol)  # ignored, as aioice ignores it
    assert consent.failures == 2
    assert tid in protocol.transactions
    assert consent.response_bytes(stun.binding_success(tid, ("192.0.2.1", 9), key), protocol)
    assert consent.failures == 0
    assert protocol.transactions == {}
    # an authenticated error response (through aioice's parser) is a failure
    request = await next_request()
    error = aioice_stun.Message(
        aioice_stun.Method.BINDING, aioice_stun.Class.ERROR, transaction_id=request[8:20]
    )
    error.attributes["ERROR-CODE"] = (487, "Role Conflict")
    error.add_message_integrity(key)
    protocol.transactions[request[8:20]].response_received(
        aioice_stun.parse_message(bytes(error)), ("192.0.2.1", 9)
    )
    assert consent.failures == 1
    # then CONSENT_FAILURES in a row close the connection from the consent task
    await asyncio.wait_for(task, 5.0)
    assert connection.closed == 1
    assert connection._query_consent_task is None
    assert consent.failures == aioice.ice.CONSENT_FAILURES
    assert protocol.transactions == {}
