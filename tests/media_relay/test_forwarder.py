"""The forwarder's header rewriting and slot policy, with fake outlets (no network)."""

from __future__ import annotations

import itertools
import random
import struct

from aiortc.rtp import RtpPacket

from media_relay.forwarder import Forwarder
from media_relay.send_profile import SendProfile

OPUS = SendProfile(payload_type=111, clock_rate=48_000, audio_level_id=1)


class FakeOutlet:
    def __init__(self, ssrc: int, connected: bool = True) -> None:
        self.ssrc = ssrc
        self.packets = 0
        self.octets = 0
        self.sent: list[bytes] = []
        self.connected = connected
        self.reports: list[tuple[int, float]] = []

    def send(self, packet: bytes, payload_octets: int) -> bool:
        if not self.connected:
            return False
        self.sent.append(packet)
        self.packets += 1
        self.octets += payload_octets
        return True

    def sync_sender_report(self, rtp_timestamp: int, unix_time: float) -> None:
        self.reports.append((rtp_timestamp, unix_time))

    def parsed(self) -> list[RtpPacket]:
        return [RtpPacket.parse(p) for p in self.sent]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def packet(ssrc: int, seq: int, ts: int, level: int | None = 10, pt: int = 96) -> RtpPacket:
    p = RtpPacket(payload_type=pt, sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=b"opus")
    if level is not None:
        p.extensions.audio_level = (True, level)
    return p


def audio_level(raw: bytes, ext_id: int) -> int | None:
    """Read the one-byte audio-level element with ext_id from a raw packet."""
    if not raw[0] & 0x10:
        return None
    profile, words = struct.unpack_from("!HH", raw, 12)
    assert profile == 0xBEDE
    body = raw[16 : 16 + 4 * words]
    i = 0
    while i < len(body):
        if body[i] == 0:
            i += 1
            continue
        x_id, length = body[i] >> 4, (body[i] & 0x0F) + 1
        if x_id == ext_id:
            return body[i + 1] & 0x7F
        i += 1 + length
    return None


def make(slots: int = 2, **kwargs):  # type: ignore[no-untyped-def]
    clock = Clock()
    events: list[tuple[int, bool, int]] = []
    fwd = Forwarder(slots, lambda *e: events.append(e), clock=clock, **kwargs)
    return fwd, clock, events


def test_each_listener_gets_its_own_ssrc_payload_type_and_extension_id() -> None:
    fwd, _, _ = make()
    fwd.publisher_add(1, forwarding=True)
    a, b = FakeOutlet(0xAAAA0001), FakeOutlet(0xBBBB0002)
    fwd.listener_add(10, [(a, OPUS)])
    fwd.listener_add(11, [(b, SendProfile(payload_type=96, clock_rate=48_000, audio_level_id=3))])
    fwd.on_packet(1, packet(ssrc=555, seq=7, ts=1000, level=12))
    (pa,), (pb,) = a.parsed(), b.parsed()
    assert (pa.ssrc, pa.payload_type, pa.payload) == (0xAAAA0001, 111, b"opus")
    assert (pb.ssrc, pb.payload_type, pb.payload) == (0xBBBB0002, 96, b"opus")
    assert audio_level(a.sent[0], 1) == 12
    assert audio_level(b.sent[0], 3) == 12
    assert audio_level(b.sent[0], 1) is None


def test_listener_without_audio_level_gets_no_extension() -> None:
    fwd, _, _ = make()
    fwd.publisher_add(1, forwarding=True)
    out = FakeOutlet(1)
    fwd.listener_add(10, [(out, SendProfile(111, 48_000, 0))])
    fwd.on_packet(1, packet(ssrc=5, seq=1, ts=0))
    assert out.sent[0][0] & 0x10 == 0
    assert out.parsed()[0].payload == b"opus"


def test_sequence_and_timestamp_continue_across_a_speaker_change_in_a_slot() -> None:
    fwd, clock, _ = make(slots=1, slot_hold_s=0.5)
    fwd.publisher_add(1, forwarding=True)
    fwd.publisher_add(2, forwarding=True)
    out = FakeOutlet(9)
    fwd.listener_add(10, [(out, OPUS)])
    for i in range(3):
        fwd.on_packet(1, packet(ssrc=111, seq=60_000 + i, ts=5_000 + 960 * i))
        clock.now += 0.02
    clock.now += 1.0  # speaker 1 has been quiet longer than the hold: speaker 2 takes the slot
    fwd.on_packet(2, packet(ssrc=222, seq=3, ts=77))
    fwd.on_packet(2, packet(ssrc=222, seq=4, ts=77 + 960))
    seqs = [p.sequence_number for p in out.parsed()]
    stamps = [p.timestamp for p in out.parsed()]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == [0, 1, 2, 3, 4]
    assert stamps[1] - stamps[0] == 960
    assert stamps[2] - stamps[1] == 960
    gap = (stamps[3] - stamps[2]) & 0xFFFFFFFF
    assert 48_000 <= gap <= 48_000 + 960 * 2  # the 1.02 s of silence, in clock units
    assert stamps[4] - stamps[3] == 960
    assert {p.ssrc for p in out.parsed()} == {9}


def test_busy_slots_refuse_a_new_speaker_until_one_goes_quiet() -> None:
    fwd, clock, _ = make(slots=1, slot_hold_s=0.5)
    fwd.publisher_add(1, forwarding=True)
    fwd.publisher_add(2, forwarding=True)
    out = FakeOutlet(9)
    fwd.listener_add(10, [(out, OPUS)])
    fwd.on_packet(1, packet(ssrc=111, seq=1, ts=0))
    clock.now += 0.1
    fwd.on_packet(2, packet(ssrc=222, seq=1, ts=0))
    assert len(out.sent) == 1
    assert fwd.stats.dropped_no_slot == 1


def test_silent_speaker_without_a_slot_takes_none() -> None:
    fwd, _, _ = make()
    fwd.publisher_add(1, forwarding=True)
    out = FakeOutlet(9)
    fwd.listener_add(10, [(out, OPUS)])
    fwd.on_packet(1, packet(ssrc=111, seq=1, ts=0, level=127))
    assert out.sent == []
    assert fwd.publishers[1].slot is None


def test_mute_drops_the_very_next_packet_and_unmute_resumes() -> None:
    fwd, _, _ = make()
    fwd.publisher_add(1, forwarding=True)
    out = FakeOutlet(9)
    fwd.listener_add(10, [(out, OPUS)])
    fwd.on_packet(1, packet(ssrc=111, seq=1, ts=0))
    fwd.publisher_set_forwarding(1, False)
    fwd.on_packet(1, packet(ssrc=111, seq=2, ts=960))
    assert len(out.sent) == 1
    assert fwd.stats.dropped_not_allowed == 1
    fwd.publisher_set_forwarding(1, True)
    fwd.on_packet(1, packet(ssrc=111, seq=3, ts=1920))
    assert len(out.sent) == 2
    first, second = out.parsed()
    assert (second.sequence_number - first.sequence_number) & 0xFFFF == 1


def test_a_speaker_does_not_hear_itself() -> None:
    fwd, _, _ = make()
    fwd.publisher_add(1, forwarding=True)
    own, other = FakeOutlet(1), FakeOutlet(2)
    fwd.listener_add(1, [(own, OPUS)])
    fwd.listener_add(2, [(other, OPUS)])
    fwd.on_packet(1, packet(ssrc=111, seq=1, ts=0))
    assert own.sent == []
    assert len(other.sent) == 1


def test_unconnected_listener_is_skipped_not_counted_as_sent() -> None:
    fwd, _, _ = make()
    fwd.publisher_add(1, forwarding=True)
    fwd.listener_add(10, [(FakeOutlet(1, connected=False), OPUS)])
    fwd.on_packet(1, packet(ssrc=111, seq=1, ts=0))
    assert (fwd.stats.packets_out, fwd.stats.send_skipped) == (0, 1)


def test_speaking_events_start_on_voice_and_stop_after_the_hang_time() -> None:
    fwd, clock, events = make(speaking_hang_s=0.6)
    fwd.publisher_add(1, forwarding=True)
    for i in range(10):
        fwd.on_packet(1, packet(ssrc=111, seq=i, ts=960 * i, level=20))
        clock.now += 0.02
    assert events == [(1, True, 20)]
    for i in range(10, 20):  # quiet for 0.2 s: still speaking (hang time)
        fwd.on_packet(1, packet(ssrc=111, seq=i, ts=960 * i, level=127))
        clock.now += 0.02
    assert len(events) == 1
    clock.now += 1.0
    fwd.tick(0.0)
    assert events[-1][:2] == (1, False)


def test_speaking_events_are_throttled() -> None:
    fwd, clock, events = make(speaking_hang_s=0.0, speaking_min_interval_s=0.25)
    fwd.publisher_add(1, forwarding=True)
    for i in range(20):  # voice and silence alternating every 20 ms
        clock.now += 0.02
        fwd.on_packet(1, packet(ssrc=111, seq=i, ts=960 * i, level=20 if i % 2 else 127))
    assert 1 <= len(events) <= 3


def test_mute_ends_speaking_at_once() -> None:
    fwd, _, events = make()
    fwd.publisher_add(1, forwarding=True)
    fwd.on_packet(1, packet(ssrc=111, seq=1, ts=0))
    fwd.publisher_set_forwarding(1, False)
    assert [e[:2] for e in events] == [(1, True), (1, False)]


def test_tick_feeds_sender_reports_for_listeners_that_got_packets() -> None:
    fwd, clock, _ = make()
    fwd.publisher_add(1, forwarding=True)
    out, idle = FakeOutlet(1), FakeOutlet(2)
    fwd.listener_add(10, [(out, OPUS), (idle, OPUS)])
    fwd.on_packet(1, packet(ssrc=111, seq=1, ts=0))
    ts = out.parsed()[0].timestamp
    clock.now += 0.5
    fwd.tick(1234.0)
    assert out.reports == [((ts + 24_000) & 0xFFFFFFFF, 1234.0)]
    assert idle.reports == []


def test_a_removed_listener_gets_nothing_more() -> None:
    fwd, _, _ = make()
    fwd.publisher_add(1, forwarding=True)
    stays, leaves = FakeOutlet(1), FakeOutlet(2)
    fwd.listener_add(10, [(stays, OPUS)])
    fwd.listener_add(11, [(leaves, OPUS)])
    fwd.on_packet(1, packet(ssrc=111, seq=1, ts=0))
    fwd.listener_remove(11)
    fwd.on_packet(1, packet(ssrc=111, seq=2, ts=960))
    assert (len(stays.sent), len(leaves.sent)) == (2, 1)


def _talk_then_silence(fwd: Forwarder, clock: Clock, silent_s: float, level: int | None) -> int:
    """20 voice packets, then `silent_s` of 20 ms packets at `level`, then 5 voice packets."""
    seq = 0
    for _ in range(20):
        fwd.on_packet(1, packet(ssrc=111, seq=seq, ts=960 * seq, level=10))
        seq += 1
        clock.now += 0.02
    for _ in range(int(silent_s / 0.02)):
        fwd.on_packet(1, packet(ssrc=111, seq=seq, ts=960 * seq, level=level))
        seq += 1
        clock.now += 0.02
    for _ in range(5):
        fwd.on_packet(1, packet(ssrc=111, seq=seq, ts=960 * seq, level=10))
        seq += 1
        clock.now += 0.02
    return seq


def test_a_silent_speaker_without_dtx_is_thinned_to_what_opus_dtx_sends() -> None:
    fwd, clock, _ = make(speaking_hang_s=0.6)
    fwd.publisher_add(1, forwarding=True)
    out = FakeOutlet(9)
    fwd.listener_add(10, [(out, OPUS)])
    total = _talk_then_silence(fwd, clock, silent_s=4.0, level=127)
    got = out.parsed()
    # voice (20 + 5) and the hang time (0.6 s = 30 packets) in full; the remaining 3.4 s of
    # silence as about one packet per 400 ms instead of 170
    silence_sent = len(got) - 20 - 30 - 5
    assert 7 <= silence_sent <= 10, silence_sent
    assert fwd.stats.suppressed_silence == total - len(got)
    seqs = [p.sequence_number for p in got]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == list(range(len(got)))  # no gap seen
    stamps = [p.timestamp for p in got]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    first_voice_after = got[-5]
    assert first_voice_after.marker == 1
    assert got[-4].marker == 0
    assert audio_level(out.sent[-5], 1) == 10


def test_a_speaker_already_using_dtx_is_forwarded_in_full() -> None:
    fwd, clock, _ = make(speaking_hang_s=0.6)
    fwd.publisher_add(1, forwarding=True)
    out = FakeOutlet(9)
    fwd.listener_add(10, [(out, OPUS)])
    for i in range(5):
        fwd.on_packet(1, packet(ssrc=111, seq=i, ts=960 * i, level=10))
        clock.now += 0.02
    for i in range(5, 15):  # DTX: one comfort-noise packet per 400 ms, with a little jitter
        clock.now += 0.4 + (0.01 if i % 2 else -0.01)
        fwd.on_packet(1, packet(ssrc=111, seq=i, ts=960 * i, level=127))
    assert len(out.sent) == 15
    assert fwd.stats.suppressed_silence == 0


def test_quiet_speech_and_packets_without_audio_level_are_never_thinned() -> None:
    fwd, clock, _ = make(speaking_hang_s=0.6, voice_level_max=50, silence_level_min=70)
    fwd.publisher_add(1, forwarding=True)
    out = FakeOutlet(9)
    fwd.listener_add(10, [(out, OPUS)])
    quiet = _talk_then_silence(fwd, clock, silent_s=2.0, level=60)  # not voice, not silence
    unknown = _talk_then_silence(fwd, clock, silent_s=2.0, level=None)
    assert len(out.sent) == quiet + unknown
    assert fwd.stats.suppressed_silence == 0


# --- loudest-N (issue #22, point 4) ---------------------------------------------------------


class Room:
    """Speakers sending 20 ms packets at given levels through one forwarder, on a fake clock."""

    def __init__(self, slots: int = 3, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.fwd, self.clock, _ = make(slots=slots, **kwargs)
        self.seq: dict[int, int] = {}

    def speak(self, levels: dict[int, int | None], seconds: float) -> None:
        for user_id in levels:
            if user_id not in self.fwd.publishers:
                self.fwd.publisher_add(user_id, forwarding=True)
        for _ in range(round(seconds / 0.02)):
            for user_id, level in levels.items():
                seq = self.seq.get(user_id, 0)
                self.seq[user_id] = seq + 1
                self.fwd.on_packet(user_id, packet(1000 + user_id, seq, 960 * seq, level=level))
            self.clock.now += 0.02

    def holders(self) -> set[int]:
        return {s.owner.user_id for s in self.fwd.slots if s.owner is not None}


def test_with_eight_talking_at_once_the_three_loudest_hold_the_slots() -> None:
    room = Room(slots=3)
    # the quiet ones speak first and take the free slots; the loud ones out-talk them
    levels = {1: 40, 2: 36, 3: 33, 4: 30, 5: 27, 6: 12, 7: 8, 8: 4}
    room.speak(levels, 1.0)
    assert room.holders() == {6, 7, 8}
    before = room.fwd.stats.slot_handovers
    room.speak(levels, 5.0)
    assert room.holders() == {6, 7, 8}
    assert room.fwd.stats.slot_handovers == before  # settled: nothing moves while levels hold


def test_a_listener_receives_only_the_loudest_speakers_packets() -> None:
    room = Room(slots=3)
    outlets = [FakeOutlet(90 + i) for i in range(3)]
    room.fwd.listener_add(100, [(o, OPUS) for o in outlets])
    levels = {1: 40, 2: 36, 3: 33, 4: 30, 5: 27, 6: 12, 7: 8, 8: 4}
    room.speak(levels, 1.0)
    for o in outlets:
        o.sent.clear()
    room.speak(levels, 1.0)
    heard = {audio_level(raw, 1) for o in outlets for raw in o.sent}
    assert heard == {12, 8, 4}
    assert all(len(o.sent) == 50 for o in outlets)  # each slot a whole second of one speaker


def test_a_quiet_speaker_who_becomes_the_loudest_takes_a_slot_within_a_second() -> None:
    room = Room(slots=3)
    levels = {1: 40, 2: 36, 3: 33, 4: 30, 5: 27, 6: 12, 7: 8, 8: 4}
    room.speak(levels, 2.0)
    assert 1 not in room.holders()
    levels[1] = 2  # the quietest now shouts
    took = None
    for step in range(50):
        room.speak(levels, 0.02)
        if 1 in room.holders():
            took = (step + 1) * 0.02
            break
    assert took is not None
    assert took <= 1.0, took
    assert room.holders() == {1, 7, 8}  # the quietest of the three gave way
    assert room.fwd.stats.slot_preemptions >= 1


def test_a_slightly_louder_speaker_does_not_take_a_slot_from_a_talking_one() -> None:
    room = Room(slots=1, slot_margin_db=6.0)
    room.speak({1: 20}, 0.5)
    room.speak({1: 20, 2: 16}, 3.0)  # 4 dB louder: within the margin
    assert room.holders() == {1}
    room.speak({1: 20, 2: 10}, 1.0)  # 10 dB louder: clearly the dominant speaker
    assert room.holders() == {2}


def test_two_speakers_close_in_level_do_not_flap() -> None:
    """Two talkers around the same level, each louder in turn by a few dB every 200 ms, and
    speech-like jitter on every packet: the slot stays where it is."""
    rng = random.Random(22)
    room = Room(slots=3)
    room.speak({1: 6, 2: 8}, 0.5)  # two clearly loud ones
    room.speak({1: 6, 2: 8, 3: 25}, 0.5)  # the third slot's holder
    before = room.fwd.stats.slot_handovers
    for turn in range(50):  # 10 s
        a, b = (24, 27) if turn % 2 else (27, 24)
        for _ in range(10):
            room.speak({1: 6, 2: 8, 3: a + rng.randint(-4, 4), 4: b + rng.randint(-4, 4)}, 0.02)
    assert room.holders() == {1, 2, 3}
    assert room.fwd.stats.slot_handovers == before


def test_a_loud_holder_who_stops_talking_gives_way_to_a_quiet_talker() -> None:
    room = Room(slots=1)
    room.speak({1: 5}, 1.0)
    room.speak({1: 127, 2: 48}, 0.6)  # a loud talker gone silent; a quiet one talking
    assert room.holders() == {2}


def test_packets_without_audio_level_rank_as_the_quietest_voice() -> None:
    room = Room(slots=1, voice_level_max=50)
    room.speak({1: None}, 1.0)
    assert room.holders() == {1}
    room.speak({1: None, 2: 20}, 1.0)  # a talker who reports a real level out-talks it
    assert room.holders() == {2}


def test_ranking_runs_on_an_interval_not_per_packet(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    room = Room(slots=3, rank_interval_s=0.1)
    calls: list[float] = []
    rank = room.fwd._slots_rank

    def counting(now: float) -> None:
        calls.append(now)
        rank(now)

    monkeypatch.setattr(room.fwd, "_slots_rank", counting)
    room.speak({i: 10 + i for i in range(1, 9)}, 2.0)  # 800 packets
    assert 15 <= len(calls) <= 21
