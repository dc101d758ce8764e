"""Send Money as a beta: the tip service refuses senders outside the cohort, the profile API says
who may send and who can receive, cohort members send feedback, creators switch it themselves.
The ledger balances after each test (tests/payouts/conftest.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import FeatureCohortMember, FeatureFeedback, FeatureFlag
from accounts.services import feature_cohort_add, feature_cohort_add_by_rule
from clubhouse.errors import ApplicationError
from clubhouse.money import Money
from payouts import ledger, services
from payouts.models import CreatorProgram, Tip

from .conftest import follow, make_creator, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def beta() -> FeatureFlag:
    """Send Money in beta (its flag exists from post_migrate, open to everyone)."""
    services.send_money_flag_ensure()
    FeatureFlag.objects.filter(key="send_money").update(everyone=False, enabled=True)
    return FeatureFlag.objects.get(key="send_money")


@pytest.fixture
def pair():
    creator, sender = make_creator(), make_user()
    follow(sender, creator)
    return sender, creator


def _tip(sender, creator, amount: int = 1000) -> Tip:
    return services.tip_send(sender=sender, creator=creator, amount=Money(amount, "USD"),
                             payment_method="pm_card_visa")  # fmt: skip


def test_the_send_money_flag_exists_after_migrate_and_changes_nothing_yet() -> None:
    services.send_money_flag_ensure()
    flag = FeatureFlag.objects.get(key="send_money")
    assert (flag.enabled, flag.everyone) == (True, True)


def test_a_sender_outside_the_cohort_is_refused_by_the_service(beta, pair) -> None:
    sender, creator = pair
    with pytest.raises(ApplicationError) as exc:
        _tip(sender, creator)
    assert (exc.value.code, exc.value.status) == ("send_money_not_in_beta", 403)
    assert not Tip.objects.exists()


def test_a_cohort_member_sends_a_tip_that_is_booked(beta, pair) -> None:
    sender, creator = pair
    feature_cohort_add(flag=beta, users=[sender])
    tip = _tip(sender, creator)
    assert tip.status == "succeeded"
    assert ledger.creator_balances(creator) == {"USD": 1000}


def test_switched_off_nobody_sends_not_even_the_cohort(beta, pair) -> None:
    sender, creator = pair
    feature_cohort_add(flag=beta, users=[sender])
    FeatureFlag.objects.filter(pk=beta.pk).update(enabled=False)
    with pytest.raises(ApplicationError) as exc:
        _tip(sender, creator)
    assert exc.value.code == "send_money_off"


def test_the_api_refuses_with_the_error_envelope(beta, pair, api_client) -> None:
    sender, creator = pair
    api_client.force_authenticate(sender)
    response = api_client.post(reverse("api:payouts-tips"), {"creator": creator.username,
                               "amount": 500, "currency": "USD", "payment_method": "pm_card_visa"},
                               format="json")  # fmt: skip
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "send_money_not_in_beta"


# --- the profile in the API -------------------------------------------------------------------


def _profile(api_client, viewer, user) -> dict:
    api_client.force_authenticate(viewer)
    url = (
        reverse("api:me")
        if viewer.pk == user.pk
        else reverse("api:user-detail", args=[user.username])
    )
    response = api_client.get(url)
    assert response.status_code == 200
    return response.json()


def test_outside_the_cohort_the_profile_says_why_not(beta, pair, api_client) -> None:
    sender, creator = pair
    body = _profile(api_client, sender, creator)
    assert body["can_receive_money"] is True
    assert (body["can_send_money"], body["send_money_reason"]) == (False, "not_in_beta")
    assert body["receive_money_reason"] is None  # only the creator learns why not


def test_inside_the_cohort_the_profile_offers_send_money_as_beta(beta, pair, api_client) -> None:
    sender, creator = pair
    feature_cohort_add(flag=beta, users=[sender])
    body = _profile(api_client, sender, creator)
    assert (body["can_send_money"], body["send_money_reason"], body["send_money_beta"]) == (
        True, None, True)  # fmt: skip


def test_everyone_open_means_no_beta_label(pair, api_client) -> None:
    sender, creator = pair
    body = _profile(api_client, sender, creator)
    assert (body["can_send_money"], body["send_money_beta"]) == (True, False)


def test_a_person_who_is_not_a_creator_cannot_receive(api_client) -> None:
    viewer, other = make_user(), make_user()
    body = _profile(api_client, viewer, other)
    assert (body["can_receive_money"], body["can_send_money"]) == (False, False)
    assert body["send_money_reason"] == "creator_cannot_receive"
    assert _profile(api_client, other, other)["receive_money_reason"] == "not_in_program"


# --- the creator's own switch -------------------------------------------------------------------


def test_a_creator_turns_send_money_off_and_tips_are_refused(pair, api_client) -> None:
    sender, creator = pair
    api_client.force_authenticate(creator)
    response = api_client.put(reverse("api:payouts-creator-send-money"), {"on": False},
                              format="json")  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {"in_program": True, "on": False, "staff_enabled": True,
                                "can_receive_money": False,
                                "receive_money_reason": "turned_off_by_creator"}  # fmt: skip
    with pytest.raises(ApplicationError) as exc:
        _tip(sender, creator)
    assert exc.value.code == "tip_creator_send_money_off"
    body = _profile(api_client, sender, creator)
    assert (body["can_receive_money"], body["send_money_reason"]) == (
        False, "creator_cannot_receive")  # fmt: skip
    me = _profile(api_client, creator, creator)
    assert me["receive_money_reason"] == "turned_off_by_creator"
    # and back on
    services.creator_send_money_set(user=creator, on=True)
    assert _tip(sender, creator).status == "succeeded"


def test_staff_forcing_it_off_wins_over_the_creators_switch(pair, api_client) -> None:
    sender, creator = pair
    CreatorProgram.objects.filter(user=creator).update(send_money_enabled=False)
    services.creator_send_money_set(user=creator, on=True)
    api_client.force_authenticate(creator)
    state = api_client.get(reverse("api:payouts-creator-send-money")).json()
    assert (state["on"], state["staff_enabled"], state["can_receive_money"]) == (
        True, False, False)  # fmt: skip
    assert state["receive_money_reason"] == "turned_off_by_staff"
    with pytest.raises(ApplicationError) as exc:
        _tip(sender, creator)
    assert exc.value.code == "tip_creator_not_eligible"


def test_someone_outside_the_program_has_no_switch(api_client) -> None:
    user = make_user()
    api_client.force_authenticate(user)
    assert api_client.get(reverse("api:payouts-creator-send-money")).json() == {"in_program": False}
    response = api_client.put(
        reverse("api:payouts-creator-send-money"), {"on": True}, format="json"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (403, "not_a_creator")


def test_the_switch_needs_a_boolean(pair, api_client) -> None:
    _, creator = pair
    api_client.force_authenticate(creator)
    response = api_client.put(reverse("api:payouts-creator-send-money"), {"on": "maybe"},
                              format="json")  # fmt: skip
    assert response.status_code == 400
    assert "on" in response.json()["error"]["fields"]


# --- feedback -----------------------------------------------------------------------------------


def test_a_cohort_member_sends_feedback_with_the_tip_attached(beta, pair, api_client) -> None:
    sender, creator = pair
    feature_cohort_add(flag=beta, users=[sender])
    tip = _tip(sender, creator)
    api_client.force_authenticate(sender)
    response = api_client.post(reverse("api:payouts-send-money-feedback"), {
        "rating": 4, "text": "Smooth, but the fee surprised me.", "tip": str(tip.uuid),
        "step": "done"}, format="json", HTTP_USER_AGENT="Tests/1.0")  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rating"], body["status"]) == (4, "new")
    feedback = FeatureFeedback.objects.get()
    assert feedback.flag.key == "send_money"
    assert feedback.context["tip"] == str(tip.uuid)
    assert feedback.context["tip_status"] == "succeeded"
    assert feedback.context["step"] == "done"
    assert feedback.context["creator"] == creator.username
    assert feedback.context["client"] == "Tests/1.0"


def test_feedback_on_a_failed_tip_carries_the_failure(beta, pair, api_client) -> None:
    sender, creator = pair
    feature_cohort_add(flag=beta, users=[sender])
    with pytest.raises(ApplicationError):
        services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"),
                          payment_method="pm_card_chargeDeclined")  # fmt: skip
    tip = Tip.objects.get()
    api_client.force_authenticate(sender)
    response = api_client.post(reverse("api:payouts-send-money-feedback"), {
        "rating": 1, "tip": str(tip.uuid), "step": "payment", "error_code": "card_declined"},
        format="json")  # fmt: skip
    assert response.status_code == 201
    context = FeatureFeedback.objects.get().context
    assert (context["tip_status"], context["step"], context["error_code"]) == (
        "failed", "payment", "card_declined")  # fmt: skip
    assert context["tip_failure_code"]


def test_outside_the_cohort_feedback_is_refused(beta, api_client) -> None:
    api_client.force_authenticate(make_user())
    response = api_client.post(reverse("api:payouts-send-money-feedback"), {"rating": 3},
                               format="json")  # fmt: skip
    assert (response.status_code, response.json()["error"]["code"]) == (
        403, "send_money_not_in_beta")  # fmt: skip
    assert not FeatureFeedback.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"rating": 0}, "rating"), ({"rating": 6}, "rating"), ({}, "rating"),
     ({"rating": 3, "step": "teleport"}, "step"), ({"rating": 3, "tip": "not-a-uuid"}, "tip")],
)  # fmt: skip
def test_bad_feedback_names_the_field(beta, api_client, payload, field) -> None:
    member = make_user()
    feature_cohort_add(flag=beta, users=[member])
    api_client.force_authenticate(member)
    response = api_client.post(reverse("api:payouts-send-money-feedback"), payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_feedback_about_someone_elses_tip_is_not_found(beta, pair, api_client) -> None:
    sender, creator = pair
    feature_cohort_add(flag=beta, users=[sender])
    tip = _tip(sender, creator)
    other = make_user()
    feature_cohort_add(flag=beta, users=[other])
    api_client.force_authenticate(other)
    response = api_client.post(reverse("api:payouts-send-money-feedback"),
                               {"rating": 2, "tip": str(tip.uuid)}, format="json")  # fmt: skip
    assert (response.status_code, response.json()["error"]["code"]) == (404, "tip_not_found")


def test_the_followers_of_program_creators_rule(beta) -> None:
    creator = make_creator()
    fan, stranger = make_user(), make_user()
    follow(fan, creator)
    result = feature_cohort_add_by_rule(flag=beta, rule="followers_of_program_creators")
    assert fan.username in result.added
    assert stranger.username not in result.added
    assert FeatureCohortMember.objects.get(user=fan).note == "Followers of program creators"


def test_the_schema_documents_the_beta_endpoints_and_profile_fields(client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert "post" in paths["/api/v1/payouts/send-money/feedback/"]
    assert {"get", "put"} <= set(paths["/api/v1/payouts/creator/send-money/"])
    profile = schema["components"]["schemas"]["Profile"]["properties"]
    for name in ("can_receive_money", "receive_money_reason", "can_send_money",
                 "send_money_reason", "send_money_beta"):  # fmt: skip
        assert name in profile
    assert profile["receive_money_reason"].get("nullable") is True
