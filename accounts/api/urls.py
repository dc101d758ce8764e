from django.urls import URLPattern, URLResolver, path

from accounts.api import discovery, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("me/", views.MeView.as_view(), name="me"),
    path("me/export/", views.AccountExportView.as_view(), name="me-export"),
    path("me/delete/", views.AccountDeleteView.as_view(), name="me-delete"),
    path("me/mutuals/", views.MutualsView.as_view(), name="me-mutuals"),
    path("me/suggestions/", discovery.SuggestionsView.as_view(), name="me-suggestions"),
    path("topics/", discovery.TopicListView.as_view(), name="topics"),
    path("users/<str:username>/", views.UserDetailView.as_view(), name="user-detail"),
    path("users/<str:username>/follow/", views.UserFollowView.as_view(), name="user-follow"),
    path("users/<str:username>/block/", views.UserBlockView.as_view(), name="user-block"),
    path("users/<str:username>/report/", views.UserReportView.as_view(), name="user-report"),
    path(
        "users/<str:username>/followers/",
        views.UserFollowersView.as_view(),
        name="user-followers",
    ),
    path(
        "users/<str:username>/following/",
        views.UserFollowingView.as_view(),
        name="user-following",
    ),
    path("notifications/", views.NotificationListView.as_view(), name="notifications"),
    path(
        "notifications/unread-count/",
        views.NotificationUnreadCountView.as_view(),
        name="notifications-unread-count",
    ),
    path(
        "notifications/read-all/",
        views.NotificationReadAllView.as_view(),
        name="notifications-read-all",
    ),
    path(
        "notifications/<int:pk>/read/",
        views.NotificationReadView.as_view(),
        name="notification-read",
    ),
    path(
        "me/notification-settings/",
        views.NotificationSettingsView.as_view(),
        name="me-notification-settings",
    ),
    path("push/key/", views.PushKeyView.as_view(), name="push-key"),
    path(
        "me/push-subscriptions/",
        views.PushSubscriptionListView.as_view(),
        name="me-push-subscriptions",
    ),
    path(
        "me/push-subscriptions/unsubscribe/",
        views.PushUnsubscribeView.as_view(),
        name="me-push-unsubscribe",
    ),
    path("invitations/", views.InvitationListCreateView.as_view(), name="invitations"),
    path("invitations/preview/", views.InvitationPreviewView.as_view(), name="invitation-preview"),
    path("invitations/redeem/", views.InvitationRedeemView.as_view(), name="invitation-redeem"),
    path(
        "invitations/<int:pk>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation-revoke",
    ),
    path("waitlist/vouches/", views.WaitlistVouchView.as_view(), name="waitlist-vouches"),
    path("waitlist/let-in/", views.WaitlistLetInView.as_view(), name="waitlist-let-in"),
]
