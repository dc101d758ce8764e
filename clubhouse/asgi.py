"""ASGI entry point: HTTP through Django, WebSockets through Channels (served by daphne).

Embedded mode (`make run`): the media relay worker (no REDIS_URL, or RELAY_EMBEDDED=1) and beat's
schedule (no broker; BEAT_EMBEDDED=0 turns it off) run on the server's event loop, started on the
first connection (daphne sends no ASGI lifespan events; servers that do start them at startup)
and stopped with the server. See media_relay/signalling.py, clubhouse/beat.py and
docs/operations.md.
"""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clubhouse.settings")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from clubhouse.beat import beat_embedded_ensure, beat_embedded_stop  # noqa: E402
from clubhouse.routing import websocket_urlpatterns  # noqa: E402
from clubhouse.ws_auth import TokenOrSessionAuthMiddleware  # noqa: E402
from media_relay.signalling import relay_embedded_ensure, relay_embedded_stop  # noqa: E402


def _daphne_leaves_bodies_to_django() -> None:
    """Twisted, under daphne, parses every form or multipart POST body into `request.args`, which
    daphne never reads, and answers a malformed one itself with a bare 400 that the API's error
    envelope never gets to (found by the schema fuzzing run). Twisted's documented switch
    `parsePOSTFormSubmission=False` ("don't parse HTTP bodies") turns that off, so Django's
    parsers alone judge the body, once."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # another ASGI server
        return
    if getattr(WebRequest, "_clubhouse_bodies_to_django", False):
        return
    original = WebRequest.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parsePOSTFormSubmission", False)
        original(self, *args, **kwargs)

    WebRequest.__init__ = __init__
    WebRequest._clubhouse_bodies_to_django = True


_daphne_leaves_bodies_to_django()


class EmbeddedServices:
    """Starts the in-process relay worker and beat (idempotently) before serving, when enabled."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        relay_embedded_ensure()
        beat_embedded_ensure()
        await self.app(scope, receive, send)

    @staticmethod
    async def _lifespan(receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                relay_embedded_ensure()
                beat_embedded_ensure(lifespan=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await beat_embedded_stop()
                await relay_embedded_stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


application = EmbeddedServices(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(
                TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)
