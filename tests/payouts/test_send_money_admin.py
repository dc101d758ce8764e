"""Staff run the Send Money beta in admin: the switch, the cohort (one by one, CSV, rules, the
cap), and the feedback (triage, answers, counts per week)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import FeatureCohortMember, FeatureFeedback, FeatureFlag, Notification
from accounts.services import feature_cohort_add
from payouts import services

from .conftest import follow, make_creator, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    client.staff = staff
    return client


@pytest.fixture
def flag() -> FeatureFlag:
    services.send_money_flag_ensure()
    FeatureFlag.objects.filter(key="send_money").update(everyone=False)
    return FeatureFlag.objects.get(key="send_money")


def _add_url(flag: FeatureFlag) -> str:
    return f"/admin/accounts/featureflag/{flag.pk}/cohort/add/"


def test_the_flag_page_links_to_adding_people(staff_client, flag) -> None:
    page = staff_client.get(f"/admin/accounts/featureflag/{flag.pk}/change/")
    assert page.status_code == 200
    assert _add_url(flag).encode() in page.content


def test_staff_switch_the_feature_off_from_the_list(staff_client, flag) -> None:
    response = staff_client.post("/admin/accounts/featureflag/", {
        "form-TOTAL_FORMS": 1, "form-INITIAL_FORMS": 1, "form-0-id": flag.pk,
        "form-0-everyone": "", "_save": "Save"})  # fmt: skip
    assert response.status_code == 302
    flag.refresh_from_db()
    assert (flag.enabled, flag.everyone) == (False, False)


def test_staff_add_people_one_by_one_by_username(staff_client, flag) -> None:
    ann, bob = make_user(), make_user()
    response = staff_client.post(_add_url(flag), {"usernames": f"{ann.username}\n@{bob.username}"})
    assert response.status_code == 302
    assert set(flag.members.values_list("user__username", flat=True)) == {ann.username,
                                                                          bob.username}  # fmt: skip
    row = FeatureCohortMember.objects.get(user=ann)
    assert row.added_by == staff_client.staff


def test_staff_upload_a_csv_and_learn_who_was_unknown_or_over_the_cap(staff_client, flag) -> None:
    FeatureFlag.objects.filter(pk=flag.pk).update(cohort_cap=2)
    a, b, c = make_user(), make_user(), make_user()
    upload = SimpleUploadedFile(
        "beta.csv", f"email\n{a.email}\n{b.username}\n{c.username}\nghost\n".encode(), "text/csv"
    )
    response = staff_client.post(_add_url(flag), {"csv_file": upload}, follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert "2 added" in text
    assert "1 left out by the cap" in text
    assert "1 not found (ghost)" in text
    assert set(flag.members.values_list("user_id", flat=True)) == {a.pk, b.pk}
    assert set(flag.members.values_list("source", flat=True)) == {"csv"}


def test_staff_add_by_rule_members_who_joined_before_a_date(staff_client, flag) -> None:
    early, late = make_user(), make_user()
    type(early).objects.filter(pk=early.pk).update(joined_at=datetime(2024, 3, 1,
                                                                      tzinfo=UTC))  # fmt: skip
    response = staff_client.post(_add_url(flag), {"rule": "joined_before", "on": "2025-01-01"})
    assert response.status_code == 302
    assert list(flag.members.values_list("user_id", flat=True)) == [early.pk]
    assert not flag.members.filter(user=late).exists()


def test_staff_add_by_rule_the_followers_of_program_creators(staff_client, flag) -> None:
    creator, fan = make_creator(), make_user()
    follow(fan, creator)
    response = staff_client.post(_add_url(flag), {"rule": "followers_of_program_creators"})
    assert response.status_code == 302
    assert list(flag.members.values_list("user_id", flat=True)) == [fan.pk]


def test_the_form_asks_for_exactly_one_way_and_a_date_for_dated_rules(staff_client, flag) -> None:
    page = staff_client.post(_add_url(flag), {})
    assert page.status_code == 200
    assert b"one of them" in page.content
    page = staff_client.post(_add_url(flag), {"rule": "joined_before"})
    assert page.status_code == 200
    assert b"This rule needs a date." in page.content
    assert not flag.members.exists()


def _feedback(flag: FeatureFlag, rating: int = 3) -> FeatureFeedback:
    member = make_user()
    feature_cohort_add(flag=flag, users=[member])
    return services.send_money_feedback_send(user=member, rating=rating, text="The fee?",
                                             step="quote")  # fmt: skip


def test_the_feedback_list_shows_counts_per_week(staff_client, flag) -> None:
    for rating in (2, 4, 5):
        _feedback(flag, rating)
    page = staff_client.get("/admin/accounts/featurefeedback/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Feedback per week" in text
    assert "<td data-total>3</td>" in text
    assert "3.7" in text  # the average rating


def test_opening_feedback_marks_it_read_and_the_reply_goes_by_email(
    staff_client, flag, django_capture_on_commit_callbacks
) -> None:
    feedback = _feedback(flag)
    page = staff_client.get(f"/admin/accounts/featurefeedback/{feedback.pk}/change/")
    assert page.status_code == 200
    assert b"data-feedback-reply" in page.content
    feedback.refresh_from_db()
    assert feedback.status == "read"
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/accounts/featurefeedback/{feedback.pk}/reply/",
                                     {"channel": "email", "message": "It is 2.9% + 30c."})  # fmt: skip
    assert response.status_code == 302
    feedback.refresh_from_db()
    assert (feedback.status, feedback.reply_channel) == ("answered", "email")
    assert [m.to for m in mail.outbox] == [[feedback.user.email]]


def test_a_reply_by_notification(staff_client, flag) -> None:
    feedback = _feedback(flag)
    staff_client.post(f"/admin/accounts/featurefeedback/{feedback.pk}/reply/",
                      {"channel": "notification", "message": "Thanks!"})  # fmt: skip
    note = Notification.objects.get(recipient=feedback.user)
    assert (note.kind, note.data["message"], note.data["feature"]) == (
        "feedback_reply", "Thanks!", "send_money")  # fmt: skip


def test_the_mark_read_action(staff_client, flag) -> None:
    first, second = _feedback(flag), _feedback(flag)
    staff_client.post("/admin/accounts/featurefeedback/", {
        "action": "mark_read", "_selected_action": [first.pk, second.pk]})  # fmt: skip
    assert set(FeatureFeedback.objects.values_list("status", flat=True)) == {"read"}
