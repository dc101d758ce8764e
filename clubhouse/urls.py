from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clubhouse import pages, pwa
from clubhouse.api import api_not_found
from clubhouse.health import healthz, healthz_details, livez, readyz
from clubhouse.metrics import metrics_view
from clubhouse.source import source
from clubhouse.staff_audit import staff_audit_view

# The admin has no login form of its own: it sends people to allauth's login, whose failed
# attempts are limited per client address and per account (ACCOUNT_RATE_LIMITS), so the admin is
# no easier to guess at than the site, and it asks staff for their second factor, which the
# admin's own password-only form would skip (accounts.middleware.StaffTwoFactorMiddleware).
# Logged in without staff rights, /admin/ answers 403.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("rooms.api.urls")),
    path("", include("clubs.api.urls")),
    path("", include("payouts.api.urls")),
    path("", include("media_relay.api.urls")),
]

urlpatterns = [
    path("", pages.home, name="home"),
    path("livez", livez, name="livez"),
    path("readyz", readyz, name="readyz"),
    path("healthz", healthz, name="healthz"),
    path("healthz/details", healthz_details, name="healthz_details"),
    path("metrics", metrics_view, name="metrics"),
    # The staff audit list (every app's staff actions, merged): an admin page, behind its login.
    path("admin/staff-audit/", admin.site.admin_view(staff_audit_view), name="staff_audit"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # allauth's headless API for apps and the browser (its own documented response shape).
    path("_allauth/", include("allauth.headless.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),  # payouts: Stripe webhooks
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Any other /api/ path is a JSON 404 even with DEBUG on (whose technical 404 page is HTML).
    re_path(r"^api/", api_not_found),
    path("", include("accounts.urls")),
    # The web client's pages (clubhouse/pages.py; docs/web.md).
    path("rooms/new/", pages.room_new, name="web_room_new"),
    path("rooms/<int:room_id>/", pages.room, name="web_room"),
    path("r/<str:token>/", pages.room_share, name="web_room_share"),
    path("privacy/", pages.privacy, name="privacy"),
    # the installable web app: at the root, so the service worker's scope is the whole site
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("sw.js", pwa.service_worker, name="service_worker"),
    path("offline/", pwa.offline, name="offline"),
    path("source/", source, name="source"),
    path("welcome/", pages.onboarding, name="web_onboarding"),
    path("notifications/", pages.notifications, name="web_notifications"),
    path("invitations/", pages.invitations, name="web_invitations"),
    path("search/", pages.search, name="web_search"),
    path(
        "u/<str:username>/followers/",
        pages.follow_list,
        {"which": "followers"},
        name="web_followers",
    ),
    path(
        "u/<str:username>/following/",
        pages.follow_list,
        {"which": "following"},
        name="web_following",
    ),
    path("clubs/", pages.clubs, name="web_clubs"),
    path("clubs/<slug:slug>/", pages.club, name="web_club"),
    path("events/", pages.events, name="web_events"),
    path("events/<int:event_id>/", pages.event, name="web_event"),
    path("wallet/", pages.wallet, name="web_wallet"),
    path("creator/apply/", pages.creator_application, name="web_creator_application"),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "clubhouse.api.json_or_html_400"
handler404 = "clubhouse.api.json_or_html_404"
handler500 = "clubhouse.api.json_or_html_500"
