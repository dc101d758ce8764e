from django.urls import URLPattern, URLResolver, path

from accounts import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("u/<str:username>/", views.profile, name="profile"),
    path("u/<str:username>/follow/", views.profile_follow, name="profile_follow"),
    path("me/edit/", views.profile_edit, name="profile_edit"),
    path("settings/", views.account_settings, name="account_settings"),
    path("settings/export/", views.account_export_download, name="account_export"),
    path("settings/delete/", views.account_delete, name="account_delete"),
    path("waitlist/", views.waitlist, name="waitlist"),
    path("waitlist/let-in/", views.waitlist_let_in, name="waitlist_let_in"),
    path("email/unsubscribe/<str:token>/", views.email_unsubscribe, name="email_unsubscribe"),
    path("invite/<str:token>/", views.invitation_landing, name="invitation_landing"),
]
