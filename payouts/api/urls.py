from django.urls import URLPattern, URLResolver, path, re_path

from payouts.api import client_config, memberships, prices, send_money, tickets, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("payouts/config/", client_config.PaymentsConfigView.as_view(), name="payouts-config"),
    path(
        "payouts/standin/authenticate/",
        client_config.StandInAuthenticateView.as_view(),
        name="payouts-standin-authenticate",
    ),
    path("payouts/tips/", views.TipListCreateView.as_view(), name="payouts-tips"),
    path("payouts/tips/quote/", views.TipQuoteView.as_view(), name="payouts-tip-quote"),
    path("payouts/tips/<uuid:uuid>/", views.TipDetailView.as_view(), name="payouts-tip"),
    path(
        "payouts/send-money/feedback/",
        send_money.SendMoneyFeedbackView.as_view(),
        name="payouts-send-money-feedback",
    ),
    path(
        "payouts/creator/send-money/",
        send_money.CreatorSendMoneyView.as_view(),
        name="payouts-creator-send-money",
    ),
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
    path("payouts/wallet/", memberships.WalletView.as_view(), name="payouts-wallet"),
    # paid clubs
    path(
        "payouts/clubs/<slug:slug>/plan/",
        memberships.ClubPlanView.as_view(),
        name="payouts-club-plan",
    ),
    path(
        "payouts/clubs/<slug:slug>/subscribe/",
        memberships.ClubSubscribeView.as_view(),
        name="payouts-club-subscribe",
    ),
    path(
        "payouts/subscriptions/",
        memberships.SubscriptionListView.as_view(),
        name="payouts-subscriptions",
    ),
    path(
        "payouts/subscriptions/<uuid:uuid>/",
        memberships.SubscriptionDetailView.as_view(),
        name="payouts-subscription",
    ),
    path(
        "payouts/subscriptions/<uuid:uuid>/cancel/",
        memberships.SubscriptionCancelView.as_view(),
        name="payouts-subscription-cancel",
    ),
    path(
        "payouts/subscriptions/<uuid:uuid>/resume/",
        memberships.SubscriptionResumeView.as_view(),
        name="payouts-subscription-resume",
    ),
    # tickets
    re_path(
        r"^payouts/(?P<kind>events|rooms)/(?P<pk>[0-9]+)/ticket/$",
        tickets.TicketView.as_view(),
        name="payouts-ticket",
    ),
    re_path(
        r"^payouts/(?P<kind>events|rooms)/(?P<pk>[0-9]+)/ticket-price/$",
        tickets.TicketPriceView.as_view(),
        name="payouts-ticket-price",
    ),
    path("payouts/tickets/", tickets.MyTicketsView.as_view(), name="payouts-my-tickets"),
    path("payouts/tickets/<uuid:uuid>/", tickets.MyTicketView.as_view(), name="payouts-my-ticket"),
    path("payouts/ticket-sales/", tickets.TicketSalesView.as_view(), name="payouts-ticket-sales"),
    path("payouts/prices/", prices.PricesView.as_view(), name="payouts-prices"),
]
