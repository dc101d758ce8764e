"""Every use of aiortc's and aioice's private internals, in one package (aiortc==1.16.0 and
aioice==0.13.0 are pinned for this); no other module of media_relay touches them. (pylibsrtp's
are in the leaf `media_relay.libsrtp`, which this package and `media_relay.fastpath` both use.)

The relay forwards encoded RTP without decoding, which aiortc has no public API for. By concern:

* `receive`: `tap_receiver` hands a speaker's decrypted RTP packets to the relay before aiortc's
  jitter buffer and decoder, and `SocketDemux` handles what the relay receives most (a speaker's
  RTP, the listeners' RTCP, consent checks) in the socket's `datagram_received` callback.
* `consent`: ICE consent freshness with aioice's semantics; `answer_consent_check` answers a
  client's checks from the socket callback, `ConsentFreshness` (installed by `lean_consent`) runs
  the relay's own checks in place of aioice's task.
* `send`: `RtpOutlet` sends pre-built RTP as one listener's sender, synchronously, hands its C
  target to `media_relay.fastpath`, and sends the listener's RTCP sender reports in place of
  aiortc's per-sender task; `IdleAudioTrack` is that sender's track.
* `stats`: `RemoteInbound`, the round-trip time and `remote-inbound-rtp` statistics kept from the
  listeners' receiver reports.
* `negotiation`: what a transceiver negotiated (the offered direction, the listener's
  `SendProfile`).
* `process`: `relay_process_setup`, once per process: a shared DTLS certificate and SSL context,
  cached host addresses, ICE sockets bound in RELAY_UDP_PORT_MIN..MAX, a cheaper clock, Opus
  FEC/DTX (`opus_enable_fec_dtx`).
* `checks`: the pinned versions, every private name the package uses, and the checks that name
  the attribute an upgrade moved (tests/media_relay/test_aiortc_internals.py calls them).

Import the submodules directly; this file imports nothing. The modules import one another one way
only: `checks` ← `stats`, `consent`, `process`, `negotiation` ← `receive` ← `send`. Below the
package: `media_relay.libsrtp` (a leaf), `media_relay.fastpath` (which imports only `libsrtp`;
`send` imports it), `media_relay.send_profile`, `media_relay.rtcp` and `media_relay.stun`.
"""
