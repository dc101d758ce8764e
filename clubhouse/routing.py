"""WebSocket routes. The room protocol (docs/protocol.md) lives at one stable path, /ws/."""

from django.urls import path

from rooms.consumers import RoomConsumer

websocket_urlpatterns: list = [
    path("ws/", RoomConsumer.as_asgi()),
]

__all__ = ["path", "websocket_urlpatterns"]
