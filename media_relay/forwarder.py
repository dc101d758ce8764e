"""Per-room RTP forwarding: speakers' packets out to every listener, header rewritten, never decoded.

Each listener receives a fixed pool of `slots` audio streams (its client offers that many
receive m-lines once; nobody renegotiates when the stage changes). The room maps speakers to slots
room-wide, loudest first: a speaker takes a free slot when it starts talking; when all are taken,
a slot whose speaker has been quiet longest is handed over, and a talker without a slot who is
clearly louder than the quietest slot holder takes that slot ("loudest-N", as conference SFUs
pick dominant speakers). Loudness is each speaker's RFC 6464 audio level, smoothed per packet
(fast attack, slow release), and a newcomer must beat a holder by a margin (hysteresis) so two
speakers of about the same level never flap. The ranking runs at most every `rank_interval_s`,
not per packet: per packet a speaker only updates its smoothed loudness (a few float operations).
Each slot is one continuous RTP stream: when its speaker changes, sequence-number and timestamp
offsets are re-based so the stream continues where it stopped, so every listener sees gap-free
sequence numbers and a monotonic clock per slot.

Because the slot mapping and the offsets are room-wide, the only per-listener parts of a packet
are its SSRC and what that listener negotiated (payload type, audio-level extension id). A packet
is therefore built once per negotiated layout ("profile") and each listener only splices in its
SSRC bytes before SRTP protection.

Per packet the work is: one template per layout, then per listener one SRTP protect and one
`sendto`. Outlets with a C target (`media_relay.fastpath`, built by `make`) are sent to in one
call per layout, which repeats copy + protect + sendto for each of them in C; other outlets (the
C loop not built, or test doubles) get one bytes concatenation and one `send` each, in Python.
The fan-out lists and C arrays are precomputed per slot and per layout when membership changes,
so the hot loop does no dict lookup, attribute chase or `None` check per listener.

DTX: a speaker whose client honours `usedtx=1` (browsers do) sends about one comfort-noise packet
per 400 ms while silent. A client that does not (aiortc's encoder has no DTX) keeps sending 50
packets/s of silence; once such a speaker has been silent (audio level at or below
`silence_level_min` -dBov) for longer than the speaking hang time, the forwarder passes on at most
one packet per `dtx_interval_s`, as Opus DTX would, and keeps each listener's sequence numbers
gap-free (the suppressed packets never existed for the listener; the timestamp jumps, as with
DTX) and marks the first packet of the next talk spurt. Without the audio-level extension every
packet counts as voice.

This module imports nothing from aiortc: it reads a few fields of the packets it is given
(`InboundPacket`: aiortc's `RtpPacket` from the receive path or the cascade) and builds the
outgoing bytes itself. It is driven by `media_relay.sessions`.
"""

from __future__ import annotations

import random
import struct
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Protocol

from media_relay import fastpath
from media_relay.send_profile import SendProfile

OPUS_CLOCK_RATE = 48_000
_HEAD = struct.Struct("!BBHI")  # V/P/X/CC, M/PT, sequence number, timestamp
_EXT_ONE_BYTE_ONE_WORD = b"\xbe\xde\x00\x01"

# Opus DTX sends a comfort-noise update every 400 ms; a little less, so a DTX sender's own updates
# (arriving with jitter) always pass.
DTX_INTERVAL_S = 0.36

# Loudest-N. Loudness is 127 - level (dB above the RFC 6464 floor: 127 = 0 dBov, 0 = silence),
# smoothed per packet with these weights: a rise shows in ~4 packets (80 ms), a fall takes ~20
# (400 ms), so a talker's loudness holds through the gaps between words.
LOUDNESS_ATTACK = 0.25
LOUDNESS_RELEASE = 0.05

SpeakingCallback = Callable[
    [int, bool, int], None
]  # user_id, speaking, level (-dBov, 127 = silence)


class _InboundExtensions(Protocol):
    @property
    def audio_level(self) -> tuple[bool, int] | None: ...


class InboundPacket(Protocol):
    """What the forwarder reads of a speaker's RTP packet (aiortc's `RtpPacket` has these)."""

    @property
    def marker(self) -> int: ...

    @property
    def sequence_number(self) -> int: ...

    @property
    def timestamp(self) -> int: ...

    @property
    def ssrc(self) -> int: ...

    @property
    def payload(self) -> bytes: ...

    @property
    def extensions(self) -> _InboundExtensions: ...


class Outlet(Protocol):
    ssrc: int

    @property
    def packets(self) -> int: ...

    @property
    def octets(self) -> int: ...

    def send(self, packet: bytes, payload_octets: int) -> bool: ...

    def sync_sender_report(self, rtp_timestamp: int, unix_time: float) -> None: ...


_Target = tuple[int, bytes, Callable[[bytes, int], bool]]  # listener id, SSRC bytes, send
# One layout's fan-out for one slot: its profile, the Python targets, the C targets (or None).
_Group = tuple[SendProfile, list[_Target], "fastpath.TargetArray | None"]


@dataclass(eq=False)
class ListenerSlot:
    outlet: Outlet
    profile: SendProfile
    ssrc_bytes: bytes
    send: Callable[[bytes, int], bool]
    layout: int  # payload type and audio-level id as one int: a cheap dict key in the hot loop
    fast: Any = None  # the outlet's C target (media_relay.fastpath), if it has one


@dataclass(eq=False)
class Publisher:
    user_id: int
    forwarding: bool = True
    slot: Slot | None = None
    last_voice: float = 0.0
    speaking: bool = False
    last_event: float = 0.0
    level: int = 127
    loudness: float = 0.0  # smoothed 127 - level: higher is louder (see LOUDNESS_ATTACK)


@dataclass(eq=False)
class Slot:
    index: int
    owner: Publisher | None = None
    src_ssrc: int | None = None
    seq_off: int = 0
    ts_off: int = 0
    last_seq: int | None = None
    last_ts: int = 0
    last_time: float = 0.0
    rebased: bool = False
    dtx: bool = False  # packets are being suppressed for silence: the next one forwarded is marked
    since: float = 0.0  # when its current owner took it (a louder talker waits slot_min_hold_s)


# Upper bounds (seconds) of the send-loop timing buckets: one incoming packet's fan-out to every
# listener (header rewrite, SRTP protect, sendto). The last bucket is everything above them.
SEND_LOOP_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01)


@dataclass
class ForwarderStats:
    packets_in: int = 0
    packets_out: int = 0
    dropped_not_allowed: int = 0  # muted, not a speaker, or moved to the audience
    dropped_no_slot: int = 0  # silent without a slot, or every slot busy with a louder speaker
    slot_handovers: int = 0  # a slot went from one speaker to another (quiet, or out-talked)
    slot_preemptions: int = 0  # of which a louder talker took it from one still talking
    send_skipped: int = 0  # listener transport not connected (yet, or any more)
    suppressed_silence: int = 0  # silence beyond what Opus DTX sends (not a loss: seq stays whole)
    speaking_events: int = 0
    by_listener: dict[int, int] = field(default_factory=dict)
    # The send loop's time per forwarded packet: a histogram (per bucket, not cumulative).
    send_loop_seconds: float = 0.0
    send_loop_buckets: list[int] = field(default_factory=lambda: [0] * (len(SEND_LOOP_BUCKETS) + 1))


class Forwarder:
    def __init__(
        self,
        slots: int,
        on_speaking: SpeakingCallback | None = None,
        *,
        voice_level_max: int = 50,
        slot_hold_s: float = 0.5,
        slot_margin_db: float = 6.0,
        slot_min_hold_s: float = 0.5,
        rank_interval_s: float = 0.1,
        speaking_hang_s: float = 0.6,
        speaking_min_interval_s: float = 0.25,
        silence_level_min: int = 70,
        dtx_interval_s: float = DTX_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots = [Slot(i) for i in range(slots)]
        self.publishers: dict[int, Publisher] = {}
        self.listeners: dict[int, list[ListenerSlot | None]] = {}
        self.stats = ForwarderStats()
        self._on_speaking = on_speaking
        self._voice_level_max = voice_level_max
        self._slot_hold_s = slot_hold_s
        self._slot_margin = slot_margin_db
        self._slot_min_hold_s = slot_min_hold_s
        self._rank_interval_s = rank_interval_s
        self._rank_due = 0.0
        # Set when a voice packet found no slot: the next ranking has someone to place.
        self._contended = False
        # A packet without the audio-level extension counts as voice at the quietest voice level
        # for the ranking, so speakers whose clients report levels out-talk it.
        self._unknown_loudness = float(127 - voice_level_max)
        self._hang_s = speaking_hang_s
        self._min_interval_s = speaking_min_interval_s
        self._silence_level_min = silence_level_min
        self._dtx_interval_s = dtx_interval_s
        self._clock = clock
        # Rebuilt on membership change. _fanout: (listener id, slots), for the periodic tick.
        # _fan[slot index]: [(profile, [(listener id, ssrc bytes, send), ...], C targets), ...]
        # grouped by layout, for the hot loop.
        self._fanout: list[tuple[int, list[ListenerSlot | None]]] = []
        self._fan: list[list[_Group]] = [[] for _ in self.slots]

    # --- membership --------------------------------------------------------------------------
    def publisher_add(self, user_id: int, forwarding: bool) -> Publisher:
        publisher = self.publishers.get(user_id)
        if publisher is None:
            publisher = self.publishers[user_id] = Publisher(user_id, forwarding)
        else:
            self.publisher_set_forwarding(user_id, forwarding)
        return publisher

    def publisher_set_forwarding(self, user_id: int, forwarding: bool) -> None:
        """The per-packet flag behind mute/unmute: takes effect on the very next packet."""
        publisher = self.publishers.get(user_id)
        if publisher is None:
            return
        publisher.forwarding = forwarding
        if not forwarding:
            self._slot_release(publisher)
            self._speaking_set(publisher, False, self._clock(), force=True)

    def publisher_remove(self, user_id: int) -> None:
        publisher = self.publishers.pop(user_id, None)
        if publisher is not None:
            publisher.forwarding = False
            self._slot_release(publisher)
            self._speaking_set(publisher, False, self._clock(), force=True)

    def listener_add(self, user_id: int, outlets: list[tuple[Outlet, SendProfile]]) -> None:
        slots: list[ListenerSlot | None] = [None] * len(self.slots)
        for index, (outlet, profile) in enumerate(outlets[: len(self.slots)]):
            layout = profile.payload_type << 8 | profile.audio_level_id
            fast = getattr(outlet, "fast_target", None)
            if fast is not None:
                fast.listener = user_id  # the C loop passes over the speaker's own listener
            slots[index] = ListenerSlot(
                outlet, profile, struct.pack("!I", outlet.ssrc), outlet.send, layout, fast
            )
        self.listeners[user_id] = slots
        self._fanout_rebuild()

    def listener_remove(self, user_id: int) -> None:
        if self.listeners.pop(user_id, None) is not None:
            self._fanout_rebuild()

    def _fanout_rebuild(self) -> None:
        self._fanout = list(self.listeners.items())
        fan: list[list[_Group]] = []
        for index in range(len(self.slots)):
            by_layout: dict[int, tuple[SendProfile, list[_Target], list[Any]]] = {}
            for listener_id, listener_slots in self._fanout:
                target = listener_slots[index]
                if target is None:
                    continue
                group = by_layout.setdefault(target.layout, (target.profile, [], []))
                if target.fast is not None:
                    group[2].append(target.fast)
                else:
                    group[1].append((listener_id, target.ssrc_bytes, target.send))
            fan.append(
                [
                    (profile, targets, fastpath.TargetArray(fast) if fast else None)
                    for profile, targets, fast in by_layout.values()
                ]
            )
        self._fan = fan

    # --- the hot path -------------------------------------------------------------------------
    def on_packet(self, user_id: int, packet: InboundPacket) -> None:
        stats = self.stats
        stats.packets_in += 1
        publisher = self.publishers.get(user_id)
        if publisher is None or not publisher.forwarding:
            stats.dropped_not_allowed += 1
            return
        now = self._clock()
        if now >= self._rank_due:
            self._slots_rank(now)
        level_ext = packet.extensions.audio_level
        if level_ext is None:
            voice, level = True, 0
            loud = self._unknown_loudness
        else:
            level = level_ext[1]
            voice = level <= self._voice_level_max
            loud = 127 - level
        publisher.level = level
        smoothed = publisher.loudness
        if loud > smoothed:
            publisher.loudness = smoothed + (loud - smoothed) * LOUDNESS_ATTACK
        else:
            publisher.loudness = smoothed + (loud - smoothed) * LOUDNESS_RELEASE
        if voice:
            publisher.last_voice = now
        self._speaking_update(publisher, voice, now)

        slot = publisher.slot
        if slot is None:
            if not voice:
                stats.dropped_no_slot += 1
                return
            slot = self._slot_acquire(publisher, now)
            if slot is None:
                self._contended = True
                stats.dropped_no_slot += 1
                return
        if (
            not voice
            and level >= self._silence_level_min
            and now - publisher.last_voice > self._hang_s
            and now - slot.last_time < self._dtx_interval_s
            and slot.src_ssrc == packet.ssrc
        ):
            # Silence beyond what DTX would send: the listener's stream skips it without a gap.
            slot.seq_off = (slot.seq_off - 1) & 0xFFFF
            slot.dtx = True
            stats.suppressed_silence += 1
            return
        marker = packet.marker
        if slot.src_ssrc != packet.ssrc:
            self._slot_rebase(slot, packet, now)
            marker = 1  # a new talk spurt on this stream
        elif slot.dtx and voice:
            marker = 1  # the first packet after DTX silence starts a talk spurt (RFC 3551 4.1)
        if voice:
            slot.dtx = False
        seq = (packet.sequence_number + slot.seq_off) & 0xFFFF
        ts = (packet.timestamp + slot.ts_off) & 0xFFFFFFFF
        slot.last_seq, slot.last_ts, slot.last_time = seq, ts, now

        payload = packet.payload
        payload_octets = len(payload)
        sent = skipped = 0
        started = perf_counter()
        for profile, targets, array in self._fan[slot.index]:
            head, tail = _build(profile, marker, seq, ts, level_ext, payload)
            if array is not None:
                fast_sent, fast_skipped = array.send(head, tail, payload_octets, user_id)
                sent += fast_sent
                skipped += fast_skipped
            for listener_id, ssrc_bytes, send in targets:
                if listener_id == user_id:
                    continue
                if send(head + ssrc_bytes + tail, payload_octets):
                    sent += 1
                else:
                    skipped += 1
        elapsed = perf_counter() - started
        stats.send_loop_seconds += elapsed
        stats.send_loop_buckets[bisect_left(SEND_LOOP_BUCKETS, elapsed)] += 1
        stats.packets_out += sent
        stats.send_skipped += skipped

    # --- periodic -----------------------------------------------------------------------------
    def tick(self, unix_time: float) -> None:
        """Every few hundred ms: end speaking for silent publishers; feed RTCP sender reports."""
        now = self._clock()
        for publisher in self.publishers.values():
            if publisher.speaking and now - publisher.last_voice > self._hang_s:
                self._speaking_set(publisher, False, now, force=True)
        for slot in self.slots:
            if slot.last_seq is None:
                continue
            rtp_now = (slot.last_ts + int((now - slot.last_time) * OPUS_CLOCK_RATE)) & 0xFFFFFFFF
            for _, listener_slots in self._fanout:
                target = listener_slots[slot.index]
                if target is not None and target.outlet.packets:
                    target.outlet.sync_sender_report(rtp_now, unix_time)

    # --- slots --------------------------------------------------------------------------------
    def _slot_acquire(self, publisher: Publisher, now: float) -> Slot | None:
        """A free slot, or the one whose speaker has been quiet longest (past the hold time),
        for a talker without one: at once, on its voice packet. O(slots), and only for packets
        of a talker without a slot; out-talking a holder waits for `_slots_rank`."""
        free = None
        quiet_since = now - self._slot_hold_s
        for slot in self.slots:
            owner = slot.owner
            if owner is None:
                free = slot
                break
            if owner.last_voice < quiet_since:
                quiet_since = owner.last_voice
                free = slot
        if free is None:
            return None
        self._slot_give(free, publisher, now, preempt=False)
        return free

    def _slots_rank(self, now: float) -> None:
        """Loudest-N, every `rank_interval_s` at most (from the packet path: one comparison per
        packet): talkers without a slot, loudest first, each take the weakest slot (free, quiet,
        or held by someone at least `slot_margin_db` quieter for at least `slot_min_hold_s`).
        O(publishers x slots), and nothing at all while every talker has a slot."""
        self._rank_due = now + self._rank_interval_s
        if not self._contended:
            return
        self._contended = False
        # Talking: voice within the hold time (a holder without voice for longer is quiet).
        quiet_before = now - self._slot_hold_s
        contenders = [
            p
            for p in self.publishers.values()
            if p.slot is None and p.forwarding and p.last_voice >= quiet_before
        ]
        if not contenders:
            return
        contenders.sort(key=lambda p: p.loudness, reverse=True)
        held_before = now - self._slot_min_hold_s
        for contender in contenders:
            weakest: Slot | None = None
            weakest_loudness = 0.0
            for slot in self.slots:
                owner = slot.owner
                if owner is None or owner.last_voice < quiet_before:
                    strength = -1.0  # free or quiet: anyone talking may have it
                elif slot.since > held_before:
                    continue  # just handed over: keep it a moment (no flapping)
                else:
                    strength = owner.loudness
                if weakest is None or strength < weakest_loudness:
                    weakest, weakest_loudness = slot, strength
            if weakest is None:
                break
            if weakest_loudness >= 0 and contender.loudness < weakest_loudness + self._slot_margin:
                break  # not clearly louder than the weakest holder; quieter contenders are not either
            self._slot_give(weakest, contender, now, preempt=weakest_loudness >= 0)
        # Whoever is still without a slot is ranked again next time (louder by then, maybe).
        self._contended = any(p.slot is None for p in contenders)

    def _slot_give(self, slot: Slot, publisher: Publisher, now: float, *, preempt: bool) -> None:
        previous = slot.owner
        if previous is not None:
            previous.slot = None
            self.stats.slot_handovers += 1
            if preempt:
                self.stats.slot_preemptions += 1
        slot.owner = publisher
        slot.src_ssrc = None
        slot.since = now
        publisher.slot = slot

    def _slot_release(self, publisher: Publisher) -> None:
        slot = publisher.slot
        if slot is not None:
            slot.owner = None
            slot.src_ssrc = None
            publisher.slot = None
            self._contended = True  # a talker without a slot may have it at the next ranking

    @staticmethod
    def _slot_rebase(slot: Slot, packet: InboundPacket, now: float) -> None:
        if slot.last_seq is None:
            out_seq = random.randrange(0, 32768)  # low start: no early wrap (see aiortc, Chrome)
            out_ts = random.randrange(0, 1 << 32)
        else:
            out_seq = (slot.last_seq + 1) & 0xFFFF
            elapsed = max(1, int((now - slot.last_time) * OPUS_CLOCK_RATE))
            out_ts = (slot.last_ts + elapsed) & 0xFFFFFFFF
        slot.seq_off = (out_seq - packet.sequence_number) & 0xFFFF
        slot.ts_off = (out_ts - packet.timestamp) & 0xFFFFFFFF
        slot.src_ssrc = packet.ssrc

    # --- speaking events ----------------------------------------------------------------------
    def _speaking_update(self, publisher: Publisher, voice: bool, now: float) -> None:
        if voice and not publisher.speaking:
            self._speaking_set(publisher, True, now)
        elif not voice and publisher.speaking and now - publisher.last_voice > self._hang_s:
            self._speaking_set(publisher, False, now)

    def _speaking_set(
        self, publisher: Publisher, speaking: bool, now: float, force: bool = False
    ) -> None:
        if publisher.speaking == speaking:
            return
        if not force and now - publisher.last_event < self._min_interval_s:
            return
        publisher.speaking = speaking
        publisher.last_event = now
        self.stats.speaking_events += 1
        if self._on_speaking is not None:
            self._on_speaking(publisher.user_id, speaking, publisher.level)


def _build(
    profile: SendProfile,
    marker: int,
    seq: int,
    ts: int,
    level_ext: tuple[bool, int] | None,
    payload: bytes,
) -> tuple[bytes, bytes]:
    """The packet around the SSRC: (first 8 header bytes, extension + payload)."""
    if profile.audio_level_id and level_ext is not None:
        vad, level = level_ext
        head = _HEAD.pack(0x90, (marker << 7) | profile.payload_type, seq, ts)
        ext = bytes((profile.audio_level_id << 4, (0x80 if vad else 0) | level, 0, 0))
        return head, _EXT_ONE_BYTE_ONE_WORD + ext + payload
    return _HEAD.pack(0x80, (marker << 7) | profile.payload_type, seq, ts), payload
