"""What `media_relay.aiortc_internals` relies on in aiortc and aioice, in one place: the pinned
versions, every private name the package reads or writes (and the ones it sets on their objects),
and the checks that fail loudly, naming the attribute, if an upgrade moved one.

`check_internals()` (receivers and senders), `check_demux_internals()` (a transport's router and
aioice connection, for `receive.SocketDemux`), `check_pair_internals()` (aioice's candidate pair,
for `consent.answer_consent_check`), `check_consent_internals()` (for `consent.ConsentFreshness`)
and `check_process_internals()` (for `process.relay_process_setup`) run before each internal is
first used; tests/media_relay/test_aiortc_internals.py calls them and exercises each path, so an
aiortc upgrade that moves any of them fails loudly. (`media_relay.libsrtp.srtp_protect_address`
checks pylibsrtp's `srtp_protect` signature itself.)

A leaf: it imports nothing from media_relay but the leaf `media_relay.libsrtp`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aioice
import aioice.ice
import aioice.stun
import aiortc
from aioice.candidate import Candidate, candidate_priority
from aioice.ice import CandidatePair
from aiortc import RTCRtpReceiver, RTCRtpSender, clock
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import HeaderExtensions, RtpPacket
from aiortc.stats import RTCStatsReport

# Defined in the leaf media_relay.libsrtp (which raises it too); raised here for aiortc and aioice.
from media_relay.libsrtp import AiortcInternalsError as AiortcInternalsError

AIORTC_VERSION = "1.16.0"
# answer_consent_check repeats what its request_received does, ConsentFreshness its query_consent
AIOICE_VERSION = "0.13.0"

# aiortc's name-mangled private attributes the package reads or writes.
RX_STREAMS = "_RTCRtpReceiver__remote_streams"
RX_CODECS = "_RTCRtpReceiver__codecs"
TX_PACKETS = "_RTCRtpSender__packet_count"
TX_OCTETS = "_RTCRtpSender__octet_count"
TX_RTP_TS = "_RTCRtpSender__rtp_timestamp"
TX_NTP_TS = "_RTCRtpSender__ntp_timestamp"
TX_LSR = "_RTCRtpSender__lsr"
TX_LSR_TIME = "_RTCRtpSender__lsr_time"
TX_CNAME = "_RTCRtpSender__cname"
TX_RTCP_STARTED = "_RTCRtpSender__rtcp_started"
TX_RTCP_EXITED = "_RTCRtpSender__rtcp_exited"
TX_RTT = "_RTCRtpSender__rtt"
TX_KIND = "_RTCRtpSender__kind"
TX_STATS = "_RTCRtpSender__stats"
DTLS_RX_BYTES = "_RTCDtlsTransport__rx_bytes"
DTLS_RX_PACKETS = "_RTCDtlsTransport__rx_packets"
EXT_IDS = "_HeaderExtensionsMap__ids"

# Ours, set on aiortc and aioice instances.
RX_DIRECT = "_relay_direct_receive"  # on the tapped receiver (receive.DirectReceive)
DEMUX = "_relay_socket_demux"  # on the RTCDtlsTransport (receive.SocketDemux)
TX_REMOTE_INBOUND = "_relay_remote_inbound"  # on a relay sender (stats.RemoteInbound)
ICE_CONSENT = "_relay_consent"  # on an aioice Connection (consent.ConsentFreshness)
# On an aioice Connection: the RtpOutlets whose C targets send on its socket (a WeakSet).
FAST_OUTLETS = "_relay_fast_outlets"


def check_internals(
    receiver: RTCRtpReceiver | None = None, sender: RTCRtpSender | None = None
) -> None:
    """Raise AiortcInternalsError naming the first missing internal (class-level, or on instances)."""
    if aiortc.__version__ != AIORTC_VERSION:
        raise AiortcInternalsError(
            f"media_relay.aiortc_internals was written for aiortc=={AIORTC_VERSION}, "
            f"found {aiortc.__version__}: re-check every internal before unpinning"
        )
    for owner, name in (
        (RTCRtpReceiver, "_handle_rtp_packet"),
        (RTCRtpSender, "_run_rtcp"),
        (RTCRtpSender, "_send_rtcp"),
        (RTCRtpSender, "_handle_rtcp_packet"),
        (RTCRtpSender, "getStats"),
        (RTCDtlsTransport, "_send_rtp"),
        (StreamStatistics, "add"),
    ):
        if not callable(getattr(owner, name, None)):
            raise AiortcInternalsError(f"aiortc {owner.__name__}.{name} is gone")
    if not isinstance(getattr(StreamStatistics, "fraction_lost", None), property):
        # receive.LossReportingStatistics overrides it: aiortc's receiver reports read it
        raise AiortcInternalsError("aiortc StreamStatistics.fraction_lost is not a property")
    if not callable(getattr(aioice.ice.StunProtocol, "datagram_received", None)):
        raise AiortcInternalsError("aioice StunProtocol.datagram_received is gone")
    if not callable(getattr(RtpPacket, "parse", None)):
        raise AiortcInternalsError("aiortc RtpPacket.parse is gone")
    if receiver is not None:
        for name in (RX_STREAMS, RX_CODECS):
            if not isinstance(getattr(receiver, name, None), dict):
                raise AiortcInternalsError(f"aiortc RTCRtpReceiver.{name} (a dict) is gone")
        dtls = receiver.transport
        for name in (DTLS_RX_BYTES, DTLS_RX_PACKETS):
            if not isinstance(getattr(dtls, name, None), int):
                raise AiortcInternalsError(f"aiortc RTCDtlsTransport.{name} (an int) is gone")
        for name in ("_rx_srtp", "_rtp_header_extensions_map", "_rtp_router"):
            if not hasattr(dtls, name):
                raise AiortcInternalsError(f"aiortc RTCDtlsTransport.{name} is gone")
        ids = getattr(dtls._rtp_header_extensions_map, EXT_IDS, None)
        if not isinstance(ids, HeaderExtensions):
            raise AiortcInternalsError(f"aiortc HeaderExtensionsMap.{EXT_IDS} is gone")
        ice = getattr(dtls.transport, "_connection", None)
        if ice is None or not isinstance(getattr(ice, "_protocols", None), list):
            raise AiortcInternalsError("aioice Connection._protocols (via ICE transport) is gone")
    if sender is not None:
        for name in (TX_PACKETS, TX_OCTETS, TX_RTP_TS, TX_NTP_TS):
            if not isinstance(getattr(sender, name, None), int):
                raise AiortcInternalsError(f"aiortc RTCRtpSender.{name} (an int) is gone")
        for name in (TX_RTCP_STARTED, TX_RTCP_EXITED):
            if not isinstance(getattr(sender, name, None), asyncio.Event):
                raise AiortcInternalsError(f"aiortc RTCRtpSender.{name} (an Event) is gone")
        for name in (TX_LSR, TX_LSR_TIME, TX_CNAME, TX_RTT, TX_KIND):
            if not hasattr(sender, name):
                raise AiortcInternalsError(f"aiortc RTCRtpSender.{name} is gone")
        if not isinstance(getattr(sender, TX_STATS, None), RTCStatsReport):
            raise AiortcInternalsError(f"aiortc RTCRtpSender.{TX_STATS} (a stats report) is gone")
        dtls = sender.transport
        for name in ("_tx_srtp", "_state", "_stats_id"):
            if not hasattr(dtls, name):
                raise AiortcInternalsError(f"aiortc RTCDtlsTransport.{name} is gone")
        for name in ("_srtp", "_cdata", "_buffer"):
            session = getattr(dtls, "_tx_srtp", None)
            if session is not None and not hasattr(session, name):
                raise AiortcInternalsError(f"pylibsrtp Session.{name} is gone")
        ice = getattr(dtls.transport, "_connection", None)
        if ice is None or not isinstance(getattr(ice, "_nominated", None), dict):
            raise AiortcInternalsError("aioice Connection._nominated (via ICE transport) is gone")


def check_process_internals() -> None:
    """What `relay_process_setup` replaces must be where it expects it."""
    generate = getattr(RTCCertificate, "generateCertificate", None)
    if not callable(generate):
        raise AiortcInternalsError("aiortc RTCCertificate.generateCertificate is gone")
    if not callable(getattr(RTCCertificate, "_create_ssl_context", None)):
        raise AiortcInternalsError("aiortc RTCCertificate._create_ssl_context is gone")
    if not callable(getattr(aioice.ice, "get_host_addresses", None)):
        raise AiortcInternalsError("aioice.ice.get_host_addresses is gone")
    if getattr(aioice.ice, "asyncio", None) is None:
        raise AiortcInternalsError("aioice.ice no longer uses the asyncio module (port range)")
    if not callable(getattr(clock, "current_ms", None)):
        raise AiortcInternalsError("aiortc.clock.current_ms is gone")


def check_demux_internals(dtls: RTCDtlsTransport) -> None:
    """What `SocketDemux` reads on the transport's router and its aioice connection."""
    _check_aioice_version()
    router = getattr(dtls, "_rtp_router", None)
    for name in ("senders", "ssrc_table"):
        if not isinstance(getattr(router, name, None), dict):
            raise AiortcInternalsError(f"aiortc RtpRouter.{name} (a dict) is gone")
    connection = getattr(getattr(dtls, "transport", None), "_connection", None)
    for name in ("_nominated",):
        if not isinstance(getattr(connection, name, None), dict):
            raise AiortcInternalsError(f"aioice Connection.{name} (a dict) is gone")
    for name in ("_remote_candidates", "_check_list", "_protocols"):
        if not isinstance(getattr(connection, name, None), list):
            raise AiortcInternalsError(f"aioice Connection.{name} (a list) is gone")
    for name in ("_closing", "_early_checks_done", "ice_controlling"):
        if not isinstance(getattr(connection, name, None), bool):
            raise AiortcInternalsError(f"aioice Connection.{name} (a bool) is gone")
    for name in ("local_username", "local_password", "remote_username"):
        if not hasattr(connection, name):
            raise AiortcInternalsError(f"aioice Connection.{name} is gone")
    if not callable(getattr(connection, "check_complete", None)):
        raise AiortcInternalsError("aioice Connection.check_complete is gone")
    check_pair_internals()


def _check_aioice_version() -> None:
    if aioice.__version__ != AIOICE_VERSION:
        raise AiortcInternalsError(
            f"media_relay.aiortc_internals was written for aioice=={AIOICE_VERSION}, "
            f"found {aioice.__version__}: re-check answer_consent_check and ConsentFreshness "
            "against its Connection.request_received, check_incoming and query_consent"
        )


def check_pair_internals() -> None:
    """aioice's candidate pair and candidate, as `answer_consent_check` reads them."""
    if not hasattr(getattr(CandidatePair, "State", None), "SUCCEEDED"):
        raise AiortcInternalsError("aioice CandidatePair.State.SUCCEEDED is gone")
    pair = CandidatePair(None, Candidate("f", 1, "udp", 1, "192.0.2.1", 9, "host"))  # type: ignore[arg-type]
    for owner, name in (
        (pair, "protocol"),
        (pair, "remote_candidate"),
        (pair, "state"),
        (pair, "nominated"),
        (pair, "remote_nominated"),
        (pair.remote_candidate, "_network_host"),
        (pair.remote_candidate, "port"),
    ):
        if not hasattr(owner, name):
            raise AiortcInternalsError(f"aioice {type(owner).__name__}.{name} is gone")


def check_consent_internals(connection: Any) -> None:
    """What `ConsentFreshness` reads and replaces on an aioice Connection."""
    _check_aioice_version()
    for name in ("query_consent", "close"):
        if not callable(getattr(connection, name, None)):
            raise AiortcInternalsError(f"aioice Connection.{name} is gone")
    for name in ("_query_consent_task", "remote_password", "_tie_breaker", "_closing"):
        if not hasattr(connection, name):
            raise AiortcInternalsError(f"aioice Connection.{name} is gone")
    for module, name in (
        (aioice.ice, "CONSENT_INTERVAL"),
        (aioice.ice, "CONSENT_FAILURES"),
        (aioice.stun, "RETRY_RTO"),
    ):
        if not isinstance(getattr(module, name, None), int | float):
            raise AiortcInternalsError(f"{module.__name__}.{name} (a number) is gone")
    if not callable(candidate_priority):
        raise AiortcInternalsError("aioice.candidate.candidate_priority is gone")
    protocol = aioice.ice.StunProtocol(connection)
    if not isinstance(getattr(protocol, "transactions", None), dict):
        raise AiortcInternalsError("aioice StunProtocol.transactions (a dict) is gone")
