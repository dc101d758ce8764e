"""What a peer connection's SDP negotiated, read from aiortc's transceiver (no public API has it):
the direction the remote offer asked for an m-line (`transceiver_offer_direction`: a speaker's
publish m-line or a listener's slot) and the outgoing packet layout a listener's m-line agreed
(`sender_profile`, a `media_relay.send_profile.SendProfile`).
"""

from __future__ import annotations

from aiortc import RTCRtpTransceiver

from media_relay.aiortc_internals.checks import AiortcInternalsError
from media_relay.send_profile import SendProfile

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def transceiver_offer_direction(transceiver: RTCRtpTransceiver) -> str | None:
    """The direction the remote offer asked for this m-line (from the offerer's point of view)."""
    # aiortc stores it reversed, as seen from the answerer ("recvonly" for an offered "sendonly").
    value = getattr(transceiver, "_offerDirection", None)
    if not isinstance(value, str):
        return None
    return {"sendonly": "recvonly", "recvonly": "sendonly"}.get(value, value)


def sender_profile(transceiver: RTCRtpTransceiver) -> SendProfile:
    codecs = getattr(transceiver, "_codecs", None)
    extensions = getattr(transceiver, "_headerExtensions", None)
    if not codecs or extensions is None:
        raise AiortcInternalsError(
            "aiortc RTCRtpTransceiver._codecs/_headerExtensions missing or empty "
            "(call after setLocalDescription of the answer)"
        )
    codec = codecs[0]
    level_id = next((x.id for x in extensions if x.uri == AUDIO_LEVEL_URI), 0)
    return SendProfile(codec.payloadType, codec.clockRate, level_id)
