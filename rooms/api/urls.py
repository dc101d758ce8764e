from django.urls import URLPattern, URLResolver, path

from rooms.api import following_live, following_online, rtc, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("hallway/", views.HallwayView.as_view(), name="hallway"),
    path("rtc/ice-servers/", rtc.IceServersView.as_view(), name="rtc-ice-servers"),
    path(
        "me/following/live/",
        following_live.FollowingLiveView.as_view(),
        name="me-following-live",
    ),
    path(
        "me/following/online/",
        following_online.FollowingOnlineView.as_view(),
        name="me-following-online",
    ),
    path("search/", views.SearchView.as_view(), name="search"),
    path("rooms/", views.RoomListCreateView.as_view(), name="room-list"),
    path("rooms/share/<str:token>/", views.RoomShareView.as_view(), name="room-share"),
    path("rooms/<int:room_id>/", views.RoomDetailView.as_view(), name="room-detail"),
    path("rooms/<int:room_id>/join/", views.RoomJoinView.as_view(), name="room-join"),
    path("rooms/<int:room_id>/leave/", views.RoomLeaveView.as_view(), name="room-leave"),
    path("rooms/<int:room_id>/audience/", views.RoomAudienceView.as_view(), name="room-audience"),
    path("rooms/<int:room_id>/report/", views.RoomReportView.as_view(), name="room-report"),
    *[
        path(
            f"rooms/<int:room_id>/{slug}/",
            views.room_action_view(slug, action_type, body).as_view(),
            name=f"room-{slug.replace('/', '-')}",
        )
        for slug, action_type, body in views.ROOM_ACTIONS
    ],
    path("events/", views.EventListCreateView.as_view(), name="event-list"),
    path("events/upcoming/", views.EventForYouView.as_view(), name="event-for-you"),
    path(
        "events/cohost-invites/",
        views.EventCohostInviteListView.as_view(),
        name="event-cohost-invites",
    ),
    path(
        "events/cohost-invites/<int:invite_id>/accept/",
        views.EventCohostInviteAcceptView.as_view(),
        name="event-cohost-invite-accept",
    ),
    path(
        "events/cohost-invites/<int:invite_id>/decline/",
        views.EventCohostInviteDeclineView.as_view(),
        name="event-cohost-invite-decline",
    ),
    path("events/<int:event_id>/", views.EventDetailView.as_view(), name="event-detail"),
    path("events/<int:event_id>/rsvp/", views.EventRSVPView.as_view(), name="event-rsvp"),
    path("events/<int:event_id>/ics/", views.EventICSView.as_view(), name="event-ics"),
    path("events/<int:event_id>/start/", views.EventStartView.as_view(), name="event-start"),
]
