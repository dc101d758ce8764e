"""The aiortc internals the relay relies on (aiortc==1.16.0). If an upgrade moves one of them,
these fail with a message naming it, before anything subtler breaks."""

from __future__ import annotations

import asyncio

import aiortc
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver

from media_relay.aiortc_internals import checks, negotiation, process, receive
from media_relay.aiortc_internals.checks import AiortcInternalsError, check_internals
from media_relay.aiortc_internals.send import sender_counters
from media_relay.testing import wait_for
from tests.media_relay.conftest import Stage


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == checks.AIORTC_VERSION, (
        "aiortc was upgraded: re-verify media_relay/aiortc_internals/, then bump AIORTC_VERSION"
    )


async def test_every_internal_is_present_on_real_objects() -> None:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("audio", direction="sendrecv")
    try:
        check_internals(receiver=transceiver.receiver, sender=transceiver.sender)
        checks.check_demux_internals(transceiver.sender.transport)
        for name in ("_codecs", "_headerExtensions", "_offerDirection"):
            assert hasattr(transceiver, name), f"aiortc RTCRtpTransceiver.{name} is gone"
        assert callable(RTCRtpReceiver._handle_rtp_packet)
        assert isinstance(transceiver.sender._ssrc, int), "aiortc RTCRtpSender._ssrc is gone"
    finally:
        await pc.close()


def test_a_missing_internal_is_named_in_the_error() -> None:
    class Hollow:
        pass

    with pytest.raises(AiortcInternalsError, match="_RTCRtpReceiver__remote_streams"):
        check_internals(receiver=Hollow())  # type: ignore[arg-type]
    with pytest.raises(AiortcInternalsError, match="_RTCRtpSender__packet_count"):
        check_internals(sender=Hollow())  # type: ignore[arg-type]


async def test_a_missing_report_internal_of_a_sender_is_named() -> None:
    pc = RTCPeerConnection()
    sender = pc.addTransceiver("audio", direction="sendrecv").sender
    try:
        for name in ("_RTCRtpSender__rtt", "_RTCRtpSender__kind", "_RTCRtpSender__stats"):
            value = getattr(sender, name)
            delattr(sender, name)
            with pytest.raises(AiortcInternalsError, match=name):
                check_internals(sender=sender)
            setattr(sender, name, value)
    finally:
        await pc.close()


async def test_a_missing_demux_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import aioice

    from media_relay.aiortc_internals.checks import check_demux_internals

    pc = RTCPeerConnection()
    dtls = pc.addTransceiver("audio", direction="sendrecv").sender.transport
    connection = dtls.transport._connection
    try:
        for owner, name in (
            (dtls._rtp_router, "senders"),
            (dtls._rtp_router, "ssrc_table"),
            (connection, "_nominated"),
            (connection, "_remote_candidates"),
            (connection, "_check_list"),
            (connection, "_closing"),
            (connection, "_early_checks_done"),
            (connection, "ice_controlling"),
            (connection, "remote_username"),
        ):
            value = getattr(owner, name)
            delattr(owner, name)
            with pytest.raises(AiortcInternalsError, match=name):
                check_demux_internals(dtls)
            setattr(owner, name, value)
        check_demux_internals(dtls)
        monkeypatch.setattr(aioice, "__version__", "0.14.0")
        with pytest.raises(AiortcInternalsError, match=r"aioice==0\.13\.0"):
            check_demux_internals(dtls)
    finally:
        await pc.close()


async def test_a_missing_consent_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import aioice.ice

    from media_relay.aiortc_internals.checks import check_consent_internals

    pc = RTCPeerConnection()
    connection = pc.addTransceiver("audio", direction="sendrecv").sender.transport.transport
    connection = connection._connection
    try:
        check_consent_internals(connection)
        for name in ("_query_consent_task", "remote_password", "_tie_breaker"):
            value = getattr(connection, name)
            delattr(connection, name)
            with pytest.raises(AiortcInternalsError, match=name):
                check_consent_internals(connection)
            setattr(connection, name, value)
        monkeypatch.delattr(aioice.ice, "CONSENT_FAILURES")
        with pytest.raises(AiortcInternalsError, match="CONSENT_FAILURES"):
            check_consent_internals(connection)
    finally:
        await pc.close()


def test_a_missing_candidate_pair_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from aioice.ice import CandidatePair

    from media_relay.aiortc_internals.checks import check_pair_internals

    check_pair_internals()
    original = CandidatePair.__init__

    def hollow(self: CandidatePair, protocol: object, remote_candidate: object) -> None:
        original(self, protocol, remote_candidate)  # type: ignore[arg-type]
        del self.remote_nominated

    monkeypatch.setattr(CandidatePair, "__init__", hollow)
    with pytest.raises(AiortcInternalsError, match="remote_nominated"):
        check_pair_internals()


async def test_answer_negotiates_opus_fec_dtx_and_the_audio_level_extension(stage: Stage) -> None:
    from media_relay.testing import ListenerClient

    client = ListenerClient()
    stage.clients.append(client)
    answer = await stage.room.peer_offer(100, await client.offer())
    assert "useinbandfec=1" in answer
    assert "usedtx=1" in answer
    assert "urn:ietf:params:rtp-hdrext:ssrc-audio-level" in answer
    assert answer.count("a=sendonly") == 3


async def test_tapped_receiver_never_decodes_and_outlets_count_for_sender_reports(
    stage: Stage,
) -> None:
    await stage.speaker()
    listener = await stage.listener(100)
    assert await wait_for(lambda: listener.tone_frames > 5, 6.0)
    relay_peer = stage.room.peers[1]
    receiver = relay_peer.publish_receiver
    assert receiver is not None
    # the relay's receiver track got no decoded frame: nothing reached the decoder
    assert receiver.track is not None
    assert receiver.track._queue.qsize() == 0
    streams = receiver._RTCRtpReceiver__remote_streams
    assert sum(s.packets_received for s in streams.values()) > 5  # RTCP stats fed
    listener_outlet = stage.room.peers[100].outlets[0]
    stage.room.forwarder.tick(1.0)
    packets, octets = sender_counters(listener_outlet.sender)
    assert packets == listener_outlet.packets > 5
    assert octets > 0


def test_fast_protect_matches_pylibsrtp_protect() -> None:
    import pylibsrtp
    from aiortc.rtp import RtpPacket

    from media_relay.libsrtp import fast_protect

    assert pylibsrtp.__version__ == "1.0.0", "re-verify fast_protect against pylibsrtp internals"

    def session() -> pylibsrtp.Session:
        policy = pylibsrtp.Policy(
            key=bytes(range(30)), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND
        )
        return pylibsrtp.Session(policy=policy)

    reference, fast = session(), session()
    protect = fast_protect(fast)
    for seq in range(3):
        packet = RtpPacket(
            payload_type=111, sequence_number=seq, timestamp=960 * seq, ssrc=7, payload=b"x" * 60
        ).serialize()
        assert protect(packet) == reference.protect(packet)


def test_fast_protect_rtcp_matches_pylibsrtp_protect_rtcp() -> None:
    import pylibsrtp
    from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket

    from media_relay.libsrtp import fast_protect

    def session() -> pylibsrtp.Session:
        policy = pylibsrtp.Policy(
            key=bytes(range(30)), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND
        )
        return pylibsrtp.Session(policy=policy)

    reference, fast = session(), session()
    protect = fast_protect(fast, rtcp=True)
    for n in range(3):
        info = RtcpSenderInfo(
            ntp_timestamp=n << 32, rtp_timestamp=960 * n, packet_count=n, octet_count=60 * n
        )
        report = bytes(RtcpSrPacket(ssrc=7, sender_info=info))
        assert protect(report) == reference.protect_rtcp(report)


async def _remote_outbound(client: object) -> list[object]:
    stats = []
    for transceiver in client.pc.getTransceivers():  # type: ignore[attr-defined]
        report = await transceiver.receiver.getStats()
        stats += [s for s in report.values() if s.type == "remote-outbound-rtp"]
    return stats


async def test_the_relay_sends_each_listener_sender_reports_from_its_tick(stage: Stage) -> None:
    import time

    await stage.speaker()
    listener = await stage.listener(100)
    assert await wait_for(lambda: listener.tone_frames > 5, 6.0)
    outlet = stage.room.peers[100].outlets[0]
    # the room's own 0.5 s tick sends the first report once media flows
    assert await wait_for(lambda: outlet.reports >= 1, 6.0)
    received: list[object] = []

    async def poll() -> bool:
        received[:] = await _remote_outbound(listener)
        return bool(received)

    deadline = time.monotonic() + 6.0
    while not await poll() and time.monotonic() < deadline:  # noqa: ASYNC110 - no event to await
        await asyncio.sleep(0.1)
    assert received, "the listener's receiver never got an RTCP sender report"
    assert 0 < received[0].packetsSent <= outlet.packets  # type: ignore[attr-defined]
    assert received[0].ssrc == outlet.ssrc  # type: ignore[attr-defined]
    # reports are paced (about every 5 s), not sent on every tick
    sent = outlet.reports
    for _ in range(5):
        outlet.sync_sender_report(0, time.time())
    assert outlet.reports == sent


async def test_a_listener_sender_stops_cleanly_without_aiortcs_rtcp_task(stage: Stage) -> None:
    await stage.speaker()
    listener = await stage.listener(100)
    assert await wait_for(lambda: listener.tone_frames > 5, 6.0)
    # aiortc's stop() waits for the RTCP task to exit: a stand-in that never signals would hang
    await asyncio.wait_for(stage.room.peer_remove(100, "removed"), 10)
    assert stage.closed[-1] == (7, 100, "removed")


async def test_relay_connections_share_one_certificate_and_ssl_context() -> None:
    from aiortc.rtcdtlstransport import SRTP_AES128_CM_SHA1_80, RTCCertificate

    from media_relay.aiortc_internals.process import relay_process_setup

    relay_process_setup()
    relay_process_setup()  # idempotent
    a, b = RTCPeerConnection(), RTCPeerConnection()
    try:
        certificates = [pc._RTCPeerConnection__certificates[0] for pc in (a, b)]  # type: ignore[attr-defined]
        assert certificates[0] is certificates[1]
        cert = RTCCertificate.generateCertificate()
        assert cert._create_ssl_context([SRTP_AES128_CM_SHA1_80]) is cert._create_ssl_context(
            [SRTP_AES128_CM_SHA1_80]
        )
    finally:
        await a.close()
        await b.close()


def test_a_shared_certificate_is_renewed_before_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime

    from aiortc.rtcdtlstransport import RTCCertificate

    from media_relay.aiortc_internals.process import relay_process_setup

    relay_process_setup()
    first = RTCCertificate.generateCertificate()
    assert RTCCertificate.generateCertificate() is first
    soon = first.expires - datetime.timedelta(days=1)

    class Later(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> Later:  # type: ignore[override]
            return cls.fromtimestamp(soon.timestamp(), tz)

    monkeypatch.setattr(process.datetime, "datetime", Later)
    renewed = RTCCertificate.generateCertificate()
    assert renewed is not first
    assert renewed.expires > first.expires


def test_host_addresses_are_those_aioice_finds_and_are_cached() -> None:
    import aioice.ice
    import ifaddr

    from media_relay.aiortc_internals.process import relay_process_setup

    relay_process_setup()
    expected = sorted(
        ip.ip
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str) and ip.ip != "127.0.0.1"
    )
    assert sorted(aioice.ice.get_host_addresses(True, False)) == expected
    first = aioice.ice.get_host_addresses(True, False)
    first.append("203.0.113.9")  # callers get a copy: the cache is not theirs to change
    assert "203.0.113.9" not in aioice.ice.get_host_addresses(True, False)


def test_fast_unprotect_matches_pylibsrtp_and_refuses_a_tampered_packet() -> None:
    import pylibsrtp
    from aiortc.rtp import RtpPacket

    from media_relay.libsrtp import fast_unprotect

    key = bytes(range(30))
    sender = pylibsrtp.Session(
        policy=pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    )
    reference, fast = (
        pylibsrtp.Session(
            policy=pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
        )
        for _ in range(2)
    )
    unprotect = fast_unprotect(fast)
    for seq in range(3):
        plain = RtpPacket(
            payload_type=111, sequence_number=seq, timestamp=960 * seq, ssrc=7, payload=b"y" * 70
        ).serialize()
        protected = sender.protect(plain)
        assert unprotect(protected) == reference.unprotect(protected) == plain
    tampered = bytearray(sender.protect(plain[:2] + (3).to_bytes(2, "big") + plain[4:]))
    tampered[-1] ^= 0xFF
    with pytest.raises(pylibsrtp.Error):
        unprotect(bytes(tampered))


async def test_a_speakers_packets_skip_aiortcs_queue_once_its_ssrc_is_known(stage: Stage) -> None:
    speaker = await stage.speaker()
    listener = await stage.listener(100)
    assert await wait_for(lambda: listener.tone_frames > 5, 6.0)
    receiver = stage.room.peers[1].publish_receiver
    assert receiver is not None
    direct = getattr(receiver, checks.RX_DIRECT)
    speaker_ssrc = speaker.pc.getSenders()[0]._ssrc
    assert direct.ssrcs == {speaker_ssrc}
    connection = receiver.transport.transport._connection
    assert all("datagram_received" in vars(p) for p in connection._protocols)

    # From now on aiortc's own path (queue → DTLS task → router → receiver) sees no RTP packet,
    # yet the tone keeps arriving and the transport's and receiver's statistics keep counting.
    slow: list[int] = []
    tapped = receiver._handle_rtp_packet

    async def counting(packet: object, arrival_time_ms: int) -> None:
        slow.append(1)
        await tapped(packet, arrival_time_ms)  # type: ignore[arg-type]

    receiver._handle_rtp_packet = counting  # type: ignore[method-assign]
    pc = stage.room.peers[1].pc

    async def transport_packets() -> int:
        report = await pc.getStats()
        return sum(s.packetsReceived for s in report.values() if s.type == "transport")

    transport_before = await transport_packets()
    streams = receiver._RTCRtpReceiver__remote_streams
    received = sum(s.packets_received for s in streams.values())
    before = listener.tone_frames
    assert await wait_for(lambda: listener.tone_frames > before + 10, 6.0)
    assert slow == []
    assert sum(s.packets_received for s in streams.values()) >= received + 10
    assert await transport_packets() >= transport_before + 10

    # Closing the publisher gives its packets back to aiortc's path (which now drops them).
    demux = receive.socket_demux(receiver.transport)
    assert demux is not None
    assert speaker_ssrc.to_bytes(4, "big") in demux.media
    stage.room.speaker_move_to_audience(1)
    assert direct.closed
    assert direct.ssrcs == set()
    assert demux.media == {}
    queued: list[bytes] = []
    queue_datagram = connection.data_received

    def spy(data: bytes, component: int) -> None:
        queued.append(data)
        queue_datagram(data, component)

    connection.data_received = spy
    assert await wait_for(
        lambda: any(d[8:12] == speaker_ssrc.to_bytes(4, "big") for d in queued), 6.0
    )


async def test_the_socket_callback_drops_forged_packets_and_passes_unknown_ones_to_aioice(
    stage: Stage,
) -> None:
    speaker = await stage.speaker()
    listener = await stage.listener(100)
    assert await wait_for(lambda: listener.tone_frames > 5, 6.0)
    receiver = stage.room.peers[1].publish_receiver
    assert receiver is not None
    speaker_ssrc = speaker.pc.getSenders()[0]._ssrc
    protocol = receiver.transport.transport._connection._nominated[1].protocol
    connection = receiver.transport.transport._connection
    handed_to_aioice: list[bytes] = []
    queue_datagram = connection.data_received

    def spy(data: bytes, component: int) -> None:
        handed_to_aioice.append(data)
        queue_datagram(data, component)

    connection.data_received = spy
    forwarded = stage.room.forwarder.stats.packets_in
    # An RTP packet with the speaker's SSRC that fails SRTP authentication: dropped, not queued.
    forged = bytes([0x80, 111, 0, 1, 0, 0, 0, 1]) + speaker_ssrc.to_bytes(4, "big") + b"\0" * 40
    protocol.datagram_received(forged, ("192.0.2.1", 9))
    # A forged RTCP packet fails SRTCP authentication in the callback: dropped too.
    rtcp = bytes([0x80, 201, 0, 1]) + speaker_ssrc.to_bytes(4, "big") + b"\0" * 20
    protocol.datagram_received(rtcp, ("192.0.2.1", 9))
    # RTP of an unknown SSRC goes to aioice (and on to aiortc) untouched.
    other = bytes([0x80, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9]) + b"\0" * 40
    protocol.datagram_received(other, ("192.0.2.1", 9))
    assert other in handed_to_aioice
    assert forged not in handed_to_aioice
    assert rtcp not in handed_to_aioice
    # and the real packets keep flowing through the direct path
    before = listener.tone_frames
    assert await wait_for(lambda: listener.tone_frames > before + 5, 6.0)
    assert stage.room.forwarder.stats.packets_in > forwarded


def test_a_missing_direct_receive_internal_is_named() -> None:
    from aiortc.rtp import HeaderExtensionsMap

    class Transport:
        _RTCDtlsTransport__rx_bytes = 0
        _RTCDtlsTransport__rx_packets = 0
        _rx_srtp = None
        _rtp_header_extensions_map = HeaderExtensionsMap()
        _rtp_router = None
        transport = None  # no ICE transport, so no aioice Connection._protocols

    class Receiver:
        _RTCRtpReceiver__remote_streams: dict[int, object] = {}
        _RTCRtpReceiver__codecs: dict[int, object] = {}
        transport = Transport()

    with pytest.raises(AiortcInternalsError, match="_protocols"):
        check_internals(receiver=Receiver())  # type: ignore[arg-type]
    Transport._rtp_header_extensions_map = object()  # type: ignore[assignment]
    with pytest.raises(AiortcInternalsError, match="_HeaderExtensionsMap__ids"):
        check_internals(receiver=Receiver())  # type: ignore[arg-type]
    del Transport._RTCDtlsTransport__rx_bytes
    with pytest.raises(AiortcInternalsError, match="_RTCDtlsTransport__rx_bytes"):
        check_internals(receiver=Receiver())  # type: ignore[arg-type]


def test_the_relays_packet_clock_is_aiortcs_clock() -> None:
    import datetime

    from aiortc import clock

    from media_relay.aiortc_internals.process import relay_process_setup

    relay_process_setup()
    reference = int((datetime.datetime.now(datetime.UTC) - clock.NTP_EPOCH).total_seconds() * 1000)
    assert abs(clock.current_ms() - reference) <= 5


def test_the_relays_rtp_parse_reads_what_aiortcs_does() -> None:
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket

    from media_relay.aiortc_internals.receive import parse_rtp

    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(id=3, uri=negotiation.AUDIO_LEVEL_URI),
            ]
        )
    )
    ids = extensions_map._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    packets = []
    for marker, csrc, level, mid, padding in (
        (0, [], None, None, 0),
        (1, [], (True, 12), None, 0),
        (0, [5, 6], (False, 127), "0", 0),
        (1, [], (True, 40), "audio", 4),
    ):
        packet = RtpPacket(
            payload_type=111,
            marker=marker,
            sequence_number=65535,
            timestamp=4_000_000_000,
            ssrc=0xDEADBEEF,
            payload=b"\x01\x02\x03" * 20,
        )
        packet.csrc = csrc
        packet.extensions.audio_level = level
        packet.extensions.mid = mid
        packet.padding_size = padding
        packets.append(packet.serialize(extensions_map))
    # a two-byte-profile extension goes through aiortc's map
    packets.append(
        bytes([0x90, 111, 0, 7, 0, 0, 0, 9, 0, 0, 0, 1, 0x10, 0, 0, 1, 3, 1, 0x85, 0]) + b"x"
    )
    for data in packets:
        ours, theirs = parse_rtp(data, extensions_map, ids), RtpPacket.parse(data, extensions_map)
        for name in (
            "version",
            "marker",
            "payload_type",
            "sequence_number",
            "timestamp",
            "ssrc",
            "csrc",
            "payload",
            "padding_size",
        ):
            assert getattr(ours, name) == getattr(theirs, name), name
        assert ours.extensions.audio_level == theirs.extensions.audio_level
    assert parse_rtp(packets[1], extensions_map, ids).extensions.audio_level == (True, 12)

    for bad in (
        b"\x80" * 11,  # short
        b"\x40" + b"\x00" * 20,  # version 1
        bytes([0x82, 111]) + b"\x00" * 14,  # two CSRCs announced, one present
        bytes([0x90, 111]) + b"\x00" * 10 + b"\xbe\xde\x00\x02\x10\x00",  # extension truncated
        bytes([0x90, 111]) + b"\x00" * 10 + b"\xbe\xde\x00\x01\x3f\x00\x00\x00",  # element too long
        bytes([0xA0, 111]) + b"\x00" * 10 + b"\x05",  # padding longer than the packet
    ):
        # Each malformed packet has its own message: any ValueError is the refusal.
        with pytest.raises(ValueError):  # noqa: PT011
            RtpPacket.parse(bad, extensions_map)
        with pytest.raises(ValueError):  # noqa: PT011
            parse_rtp(bad, extensions_map, ids)


async def test_aiortcs_rtcp_handlers_complete_without_awaiting() -> None:
    """The socket callback runs aiortc's RTCP handlers synchronously; for the reports a relay
    gets they must not await (if an upgrade makes them, `run_to_completion` still finishes them
    as tasks, but each report would cost a task again)."""
    from aiortc.rtp import (
        RtcpByePacket,
        RtcpReceiverInfo,
        RtcpRrPacket,
        RtcpSenderInfo,
        RtcpSrPacket,
    )

    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("audio", direction="sendrecv")
    try:
        ssrc = transceiver.sender._ssrc
        report = RtcpReceiverInfo(
            ssrc=ssrc,
            fraction_lost=0,
            packets_lost=0,
            highest_sequence=1,
            jitter=0,
            lsr=0,
            dlsr=0,
        )
        info = RtcpSenderInfo(ntp_timestamp=1 << 32, rtp_timestamp=0, packet_count=1, octet_count=1)
        for handler, packet in (
            (transceiver.sender._handle_rtcp_packet, RtcpRrPacket(ssrc=7, reports=[report])),
            (transceiver.sender._handle_rtcp_packet, RtcpSrPacket(ssrc=7, sender_info=info)),
            (transceiver.receiver._handle_rtcp_packet, RtcpSrPacket(ssrc=7, sender_info=info)),
            (transceiver.receiver._handle_rtcp_packet, RtcpByePacket(sources=[7])),
        ):
            coro = handler(packet)
            with pytest.raises(StopIteration):
                coro.send(None)
    finally:
        await pc.close()


async def test_a_handler_that_awaits_is_finished_as_a_task() -> None:
    from media_relay.aiortc_internals.receive import run_to_completion

    done: list[str] = []

    async def handler() -> None:
        done.append("started")
        await asyncio.sleep(0.01)
        done.append("finished")

    run_to_completion(handler())
    assert done == ["started"]
    assert await wait_for(lambda: done == ["started", "finished"], 2.0)


def test_fast_unprotect_rtcp_matches_pylibsrtp() -> None:
    import pylibsrtp
    from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket

    from media_relay.libsrtp import fast_unprotect

    key = bytes(range(30))
    sender = pylibsrtp.Session(
        policy=pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    )
    reference, fast = (
        pylibsrtp.Session(
            policy=pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
        )
        for _ in range(2)
    )
    unprotect = fast_unprotect(fast, rtcp=True)
    for n in range(3):
        info = RtcpSenderInfo(ntp_timestamp=n, rtp_timestamp=n, packet_count=n, octet_count=n)
        plain = bytes(RtcpSrPacket(ssrc=7, sender_info=info))
        protected = sender.protect_rtcp(plain)
        assert unprotect(protected) == reference.unprotect_rtcp(protected) == plain
    tampered = bytearray(sender.protect_rtcp(plain))
    tampered[-5] ^= 0xFF
    with pytest.raises(pylibsrtp.Error):
        unprotect(bytes(tampered))
