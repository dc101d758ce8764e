"""WebSocket routes. The room protocol (docs/protocol.md) lives at one stable path, /ws/."""

from django.urls import path

websocket_urlpatterns: list = [
    # path("ws/", RoomConsumer.as_asgi()) is added by the rooms app.
]

__all__ = ["path", "websocket_urlpatterns"]
