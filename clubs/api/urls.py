from django.urls import URLPattern, URLResolver, path

from clubs.api import views

club = "clubs/<slug:slug>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path("clubs/", views.ClubListCreateView.as_view(), name="clubs"),
    path("clubs/mine/", views.MyClubsView.as_view(), name="clubs-mine"),
    path(club, views.ClubDetailView.as_view(), name="club"),
    path(club + "follow/", views.ClubFollowView.as_view(), name="club-follow"),
    path(club + "join/", views.ClubJoinView.as_view(), name="club-join"),
    path(club + "leave/", views.ClubLeaveView.as_view(), name="club-leave"),
    path(club + "requests/", views.ClubRequestsView.as_view(), name="club-requests"),
    path(club + "nominations/", views.ClubNominationsView.as_view(), name="club-nominations"),
    path(club + "members/", views.ClubMembersView.as_view(), name="club-members"),
    path(club + "members/<int:user_id>/", views.ClubMemberView.as_view(), name="club-member"),
    path(
        club + "members/<int:user_id>/role/",
        views.ClubMemberRoleView.as_view(),
        name="club-member-role",
    ),
    path(club + "premium/", views.ClubPremiumView.as_view(), name="club-premium"),
    path(club + "reports/", views.ClubReportView.as_view(), name="club-reports"),
]

for decision in ("approve", "reject", "withdraw"):
    urlpatterns += [
        path(
            club + f"requests/<int:pk>/{decision}/",
            views.ClubRequestDecisionView.as_view(decision=decision),
            name=f"club-request-{decision}",
        ),
        path(
            club + f"nominations/<int:pk>/{decision}/",
            views.ClubNominationDecisionView.as_view(decision=decision),
            name=f"club-nomination-{decision}",
        ),
    ]
