from django.urls import URLPattern, URLResolver, path

from payouts.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("payouts/tips/", views.TipListCreateView.as_view(), name="payouts-tips"),
    path("payouts/tips/quote/", views.TipQuoteView.as_view(), name="payouts-tip-quote"),
    path("payouts/tips/<uuid:uuid>/", views.TipDetailView.as_view(), name="payouts-tip"),
    path(
        "payouts/payment-method/", views.PaymentMethodView.as_view(), name="payouts-payment-method"
    ),
    path("payouts/setup-intent/", views.SetupIntentView.as_view(), name="payouts-setup-intent"),
    path(
        "payouts/creator-application/",
        views.CreatorApplicationView.as_view(),
        name="payouts-creator-application",
    ),
    path(
        "payouts/connect/onboarding-link/",
        views.OnboardingLinkView.as_view(),
        name="payouts-onboarding-link",
    ),
    path("payouts/wallet/", views.WalletView.as_view(), name="payouts-wallet"),
]
