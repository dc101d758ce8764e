"""A room on the relay: each member's peer connection, and the enforcement API the web tier drives.

One `RTCPeerConnection` per (room, user). The client offers: at most one m-line it sends on (its
microphone; used only if the user is a speaker) and `slots` m-lines it receives on (see
`media_relay.forwarder` for why the pool is fixed). A new offer from the same user replaces the
old connection.

Enforcement is synchronous where it must be immediate: `speaker_mute` and `room_state` flip the
per-packet flag before returning, so the next packet of a muted speaker is already dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtp import RtpPacket
from aiortc.sdp import candidate_from_sdp

from media_relay import conf
from media_relay.aiortc_internals.consent import lean_consent
from media_relay.aiortc_internals.negotiation import sender_profile, transceiver_offer_direction
from media_relay.aiortc_internals.process import relay_process_setup
from media_relay.aiortc_internals.receive import tap_receiver, untap_receiver
from media_relay.aiortc_internals.send import IdleAudioTrack, RtpOutlet
from media_relay.aiortc_internals.stats import reported_fraction_lost, selected_candidate_types
from media_relay.candidates import (
    ICE_CANDIDATE_TYPES,
    ICE_PATH_TYPES,
    answer_announce_public_ip,
    candidate_refusal,
    loopback_allowed,
    offer_candidate_types,
    offer_sanitize,
)
from media_relay.forwarder import Forwarder, Outlet, SpeakingCallback
from media_relay.loss import REPORT_MAX_AGE_S, percentile_loss, report_percentile
from media_relay.send_profile import SendProfile

logger = logging.getLogger(__name__)

PeerClosedCallback = Callable[[int, str], None]  # user_id, reason


class RelayError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(eq=False)
class RelayPeer:
    user_id: int
    pc: RTCPeerConnection
    publish_receiver: RTCRtpReceiver | None = None
    outlets: list[RtpOutlet] = field(default_factory=list)
    tracks: list[IdleAudioTrack] = field(default_factory=list)
    closed: bool = False
    remote_candidates: int = 0  # named by the client, in its offer and trickled
    # Issue #22, point 5: the candidate types the client offered, when the offer was answered,
    # and whether ICE ever connected (a connection that never does is counted per type).
    candidate_types: frozenset[str] = frozenset()
    offered_at: float = field(default_factory=time.monotonic)
    connected: bool = False


class RelayRoom:
    def __init__(
        self,
        room_id: int,
        *,
        slots: int = 3,
        on_speaking: Callable[[int, int, bool, int], None] | None = None,
        on_peer_closed: Callable[[int, int, str], None] | None = None,
        ice_servers: list[str] | None = None,
        voice_level_max: int = 50,
    ) -> None:
        relay_process_setup()
        self.room_id = room_id
        self.speakers: set[int] = set()
        self.muted: set[int] = set()
        self.peers: dict[int, RelayPeer] = {}
        self.closed = False
        self._on_peer_closed = on_peer_closed
        speaking: SpeakingCallback | None = None
        if on_speaking is not None:
            callback = on_speaking

            def speaking(user_id: int, is_speaking: bool, level: int) -> None:
                callback(room_id, user_id, is_speaking, level)

        self.forwarder = Forwarder(slots, speaking, voice_level_max=voice_level_max)
        self._config = RTCConfiguration(
            iceServers=[RTCIceServer(urls=url) for url in (ice_servers or [])]
        )
        self._ticker: asyncio.Task[None] | None = None
        # Set by media_relay.cascade while this room is an origin with edges: gets every speaker
        # packet after the forwarder (it pipes only what the forwarder let through).
        self.pipe: Callable[[int, RtpPacket], None] | None = None
        # False on a cascade edge: speakers publish on the room's origin only.
        self.accepts_publishers = True
        # Connections that never carried audio, per candidate type the client offered.
        self.ice_failures: dict[str, int] = dict.fromkeys(ICE_CANDIDATE_TYPES, 0)
        # Connections that connected, by the type of the member's candidate ICE chose.
        self.ice_connected: dict[str, int] = dict.fromkeys(ICE_PATH_TYPES, 0)
        # What the speakers' receiver reports say at least (0-255): the listeners' loss.
        self.loss_percentile = report_percentile()
        self.listeners_loss = 0

    # --- signalling ---------------------------------------------------------------------------
    async def peer_offer(self, user_id: int, sdp: str) -> str:
        """Answer a member's offer; returns the answer SDP (ICE candidates included)."""
        if self.closed:
            raise RelayError("room_ended", "This room has ended.")
        if "\nm=audio " not in sdp.replace("\r\n", "\n"):
            raise RelayError("bad_offer", "The offer has no audio m-line.")
        limit = conf.max_remote_candidates()
        try:
            sdp, candidates = offer_sanitize(sdp, allow_loopback=loopback_allowed(), limit=limit)
        except ValueError:
            raise RelayError(
                "too_many_candidates", f"An offer may name at most {limit} ICE candidates."
            ) from None
        old = self.peers.pop(user_id, None)
        if old is not None:
            await self._peer_close(old, "renegotiated", notify=False)
        pc = RTCPeerConnection(self._config)
        peer = RelayPeer(
            user_id, pc, remote_candidates=candidates, candidate_types=offer_candidate_types(sdp)
        )
        self.peers[user_id] = peer
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            lean_consent(pc)  # before ICE connects (setLocalDescription)
            slot_transceivers: list[RTCRtpTransceiver] = []
            may_publish = self._may_publish(user_id)
            for transceiver in pc.getTransceivers():
                offered = transceiver_offer_direction(transceiver) or "inactive"
                client_sends = transceiver.kind == "audio" and offered in ("sendonly", "sendrecv")
                client_receives = transceiver.kind == "audio" and offered in (
                    "recvonly",
                    "sendrecv",
                )
                publish = client_sends and may_publish and peer.publish_receiver is None
                send = client_receives and len(slot_transceivers) < len(self.forwarder.slots)
                transceiver.direction = _DIRECTIONS[(send, publish)]
                if send:
                    track = IdleAudioTrack()
                    peer.tracks.append(track)
                    transceiver.sender.replaceTrack(track)
                    slot_transceivers.append(transceiver)
                if publish:
                    peer.publish_receiver = transceiver.receiver
                    tap_receiver(
                        transceiver.receiver,
                        self._packet_handler(user_id),
                        reported_loss=self._listeners_loss,
                    )
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except Exception as exc:
            await self._peer_close(peer, "bad_offer", notify=False)
            if isinstance(exc, RelayError):
                raise
            raise RelayError("bad_offer", f"The offer could not be answered: {exc}") from exc

        outlets: list[tuple[Outlet, SendProfile]] = []
        for transceiver in slot_transceivers:
            outlet = RtpOutlet(transceiver.sender)
            peer.outlets.append(outlet)
            outlets.append((outlet, sender_profile(transceiver)))
        self.forwarder.listener_add(user_id, outlets)
        if peer.publish_receiver is not None:
            self.forwarder.publisher_add(user_id, forwarding=self._may_forward(user_id))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                if not peer.connected:
                    self._ice_connected_count(peer)
                peer.connected = True
            elif pc.connectionState == "failed":
                self._ice_failure_count(peer)
            if pc.connectionState in ("failed", "closed") and not peer.closed:
                if self.peers.get(user_id) is peer:
                    del self.peers[user_id]
                await self._peer_close(peer, pc.connectionState, notify=True)

        self._ticker_start()
        local = pc.localDescription
        assert local is not None
        public_ip = conf.public_ip()
        return local.sdp if public_ip is None else answer_announce_public_ip(local.sdp, public_ip)

    async def peer_ice(self, user_id: int, candidate: dict[str, Any]) -> None:
        """A trickled remote candidate: {candidate: "candidate:...", sdpMid, sdpMLineIndex}."""
        peer = self.peers.get(user_id)
        if peer is None:
            raise RelayError("no_peer", "No connection for this member; send an offer first.")
        line = str(candidate.get("candidate") or "")
        if not line:
            await peer.pc.addIceCandidate(None)  # end-of-candidates
            return
        try:
            parsed = candidate_from_sdp(line.removeprefix("candidate:"))
        except (ValueError, IndexError):
            raise RelayError("bad_candidate", "The ICE candidate could not be read.") from None
        refusal = candidate_refusal(parsed.ip, allow_loopback=loopback_allowed())
        if refusal is not None:
            raise RelayError(
                "candidate_refused", f"The relay does not connect to that address ({refusal})."
            )
        limit = conf.max_remote_candidates()
        if peer.remote_candidates >= limit:
            raise RelayError(
                "too_many_candidates", f"A connection may name at most {limit} ICE candidates."
            )
        peer.remote_candidates += 1
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await peer.pc.addIceCandidate(parsed)

    # --- enforcement (called by the signalling layer with the web tier's room state) ----------
    def room_state(self, speakers: set[int], muted: set[int]) -> None:
        """Apply who may publish and who is muted. Non-speakers stop publishing at once."""
        self.speakers = set(speakers)
        self.muted = set(muted)
        for user_id in list(self.forwarder.publishers):
            if user_id not in self.speakers:
                self._publisher_close(user_id)
            else:
                self.forwarder.publisher_set_forwarding(user_id, self._may_forward(user_id))

    def speaker_mute(self, user_id: int, muted: bool = True) -> None:
        if muted:
            self.muted.add(user_id)
        else:
            self.muted.discard(user_id)
        self.forwarder.publisher_set_forwarding(user_id, self._may_forward(user_id))

    def speaker_move_to_audience(self, user_id: int) -> None:
        """Stop forwarding now and close the publisher; the member keeps listening."""
        self.speakers.discard(user_id)
        self._publisher_close(user_id)

    async def peer_remove(self, user_id: int, reason: str = "removed") -> None:
        self.speakers.discard(user_id)
        self.muted.discard(user_id)
        peer = self.peers.pop(user_id, None)
        if peer is not None:
            await self._peer_close(peer, reason, notify=True)

    async def close(self) -> None:
        """End the room: every connection closed, nothing kept."""
        self.closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        peers = list(self.peers.values())
        self.peers.clear()
        await asyncio.gather(*(self._peer_close(p, "room_ended", notify=True) for p in peers))

    # --- metrics ------------------------------------------------------------------------------
    def metrics(self) -> dict[str, int]:
        stats = self.forwarder.stats
        return {
            "peers": len(self.peers),
            "publishers": len(self.forwarder.publishers),
            "packets_in": stats.packets_in,
            "packets_out": stats.packets_out,
            "drops": stats.dropped_not_allowed + stats.dropped_no_slot,
            "send_skipped": stats.send_skipped,
            **{f"ice_failed_{kind}": count for kind, count in self.ice_failures.items()},
            **{f"ice_connected_{kind}": count for kind, count in self.ice_connected.items()},
            "listeners_loss": self.listeners_loss,
        }

    def send_loop(self) -> tuple[float, list[int]]:
        """Time spent in the send loop, and packets per timing bucket (forwarder.SEND_LOOP_BUCKETS)."""
        stats = self.forwarder.stats
        return stats.send_loop_seconds, list(stats.send_loop_buckets)

    def selected_candidate_types(self) -> list[tuple[str, str]]:
        """(local, remote) candidate types of each peer's selected ICE pair, once ICE chose one."""
        chosen = (selected_candidate_types(peer.pc) for peer in self.peers.values())
        return [types for types in chosen if types is not None]

    # --- internals ----------------------------------------------------------------------------
    def _ice_connected_count(self, peer: RelayPeer) -> None:
        """Once per connection, when it connects: the path the member's audio takes, by the type
        of their candidate in the selected pair (`relay`: through TURN)."""
        types = selected_candidate_types(peer.pc)
        if types is None or types[1] not in self.ice_connected:
            logger.info("relay: room %s user %s connected by an unnamed path %s",
                        self.room_id, peer.user_id, types)  # fmt: skip
            return
        self.ice_connected[types[1]] += 1

    def _ice_failure_count(self, peer: RelayPeer) -> None:
        """Once per connection that never connected: one count per candidate type its client
        offered (`none`: it offered none), so operators see which paths fail."""
        if peer.connected:
            return
        peer.connected = True  # counted: never again for this connection
        for kind in peer.candidate_types or {"none"}:
            self.ice_failures[kind] = self.ice_failures.get(kind, 0) + 1
        logger.info(
            "relay: room %s user %s: audio never connected (offered candidates: %s)",
            self.room_id,
            peer.user_id,
            ", ".join(sorted(peer.candidate_types)) or "none",
        )

    def _may_publish(self, user_id: int) -> bool:
        return self.accepts_publishers and user_id in self.speakers

    def _may_forward(self, user_id: int) -> bool:
        return user_id in self.speakers and user_id not in self.muted

    def _packet_handler(self, user_id: int) -> Callable[[RtpPacket, int], None]:
        on_packet = self.forwarder.on_packet

        def handle(packet: RtpPacket, arrival_ms: int) -> None:
            on_packet(user_id, packet)
            pipe = self.pipe
            if pipe is not None:
                pipe(user_id, packet)

        return handle

    def _publisher_close(self, user_id: int) -> None:
        self.forwarder.publisher_remove(user_id)
        peer = self.peers.get(user_id)
        if peer is not None and peer.publish_receiver is not None:
            untap_receiver(peer.publish_receiver)
            peer.publish_receiver = None

    async def _peer_close(self, peer: RelayPeer, reason: str, *, notify: bool) -> None:
        if peer.closed:
            return
        peer.closed = True
        if time.monotonic() - peer.offered_at >= conf.ice_failure_after_s():
            self._ice_failure_count(peer)  # replaced or closed after never connecting
        if self.forwarder.listeners.get(peer.user_id) is not None and (
            self.peers.get(peer.user_id) is None
        ):
            self.forwarder.listener_remove(peer.user_id)
            self.forwarder.publisher_remove(peer.user_id)
        for track in peer.tracks:
            track.stop()
        try:
            await peer.pc.close()
        except Exception:  # closing must never fail the caller; the connection is gone anyway
            logger.exception("closing peer connection of user %s failed", peer.user_id)
        if notify and self._on_peer_closed is not None:
            self._on_peer_closed(self.room_id, peer.user_id, reason)

    def _ticker_start(self) -> None:
        if self._ticker is None and not self.closed:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            now = time.time()
            self.forwarder.tick(now)
            self.listeners_loss = self._listeners_loss_now(now)

    def _listeners_loss(self) -> int:
        return self.listeners_loss

    def _listeners_loss_now(self, now: float) -> int:
        """The loss to tell speakers (media_relay/loss.py): the configured percentile over the
        listeners of each one's worst recently reported fraction lost across its slots."""
        percentile = self.loss_percentile
        if percentile <= 0:
            return 0
        losses = []
        for peer in self.peers.values():
            reported = [
                lost
                for outlet in peer.outlets
                if (lost := reported_fraction_lost(outlet.sender, now, REPORT_MAX_AGE_S))
                is not None
            ]
            if reported:
                losses.append(max(reported))
        return percentile_loss(losses, percentile)


_DIRECTIONS = {
    (True, True): "sendrecv",
    (True, False): "sendonly",
    (False, True): "recvonly",
    (False, False): "inactive",
}
