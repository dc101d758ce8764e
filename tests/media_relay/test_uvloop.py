"""The relay worker runs on uvloop (`manage.py relay`): the paths that reach into the event loop's
transports (the socket-callback receive path, the C send loop's socket, RTCP in the callback,
the consent checks answered and sent there) must hold there too. The same tests as under
asyncio's own loop, on uvloop."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from tests.media_relay.test_aiortc_internals import (  # noqa: F401  (collected again here)
    test_a_speakers_packets_skip_aiortcs_queue_once_its_ssrc_is_known,
    test_the_relay_sends_each_listener_sender_reports_from_its_tick,
)
from tests.media_relay.test_fastpath import (  # noqa: F401
    test_a_closed_listener_disables_its_c_target,
    test_the_python_loop_still_carries_the_tone,
    test_the_relays_outlets_send_through_the_c_loop,
)
from tests.media_relay.test_relay_media import (  # noqa: F401
    test_mute_stops_the_tone_and_unmute_resumes_it,
    test_removed_listener_is_disconnected_and_others_keep_hearing,
    test_rtcp_flows_both_ways,
    test_speakers_tone_reaches_every_listener,
)
from tests.media_relay.test_socket_callback import (  # noqa: F401
    test_consent_expiry_closes_a_connection_whose_peer_stops_answering,
    test_listeners_receiver_reports_skip_aiortcs_handler,
    test_the_relays_consent_checks_keep_a_live_peer_connected,
)

# pytest-asyncio's replacement (the pytest_asyncio_loop_factories hook) applies to every test of the
# session at once; this module only wants its own tests on uvloop.
pytestmark = pytest.mark.filterwarnings(
    'ignore:Overriding the "event_loop_policy" fixture:pytest.PytestDeprecationWarning'
)


@pytest.fixture(scope="module")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    return uvloop.EventLoopPolicy()


async def test_these_tests_run_on_uvloop() -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
