"""The feature-flag service: a feature is off, in beta for a cohort (with a cap), or open to all;
staff fill the cohort one by one, from a CSV file or by a rule, and answer feedback."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts import selectors, services
from accounts.models import FeatureCohortMember, FeatureFeedback, FeatureFlag, Notification, User
from clubhouse.errors import ApplicationError
from tests.factories import UserFactory, WaitlistedUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def flag() -> FeatureFlag:
    return FeatureFlag.objects.create(key="rockets", name="Rockets", everyone=False)


def test_a_flag_nobody_created_is_open_to_everyone() -> None:
    assert selectors.feature_access("never_gated", UserFactory()).allowed


def test_in_beta_only_the_cohort_has_the_feature_and_sees_it_as_beta(flag) -> None:
    member, outsider = UserFactory(), UserFactory()
    services.feature_cohort_add(flag=flag, users=[member])
    assert selectors.feature_access("rockets", member) == selectors.FeatureAccess(True, None, True)
    assert selectors.feature_access("rockets", outsider) == selectors.FeatureAccess(
        False, "not_in_beta"
    )


def test_the_off_switch_takes_the_feature_from_everyone_even_the_cohort(flag) -> None:
    member = UserFactory()
    services.feature_cohort_add(flag=flag, users=[member])
    FeatureFlag.objects.filter(pk=flag.pk).update(enabled=False)
    assert selectors.feature_access("rockets", member).reason == "feature_off"


def test_open_to_everyone_ends_the_beta_label(flag) -> None:
    FeatureFlag.objects.filter(pk=flag.pk).update(everyone=True)
    assert selectors.feature_access("rockets", UserFactory()) == selectors.FeatureAccess(True)


def test_the_cap_stops_additions_and_says_who_was_left_out(flag) -> None:
    FeatureFlag.objects.filter(pk=flag.pk).update(cohort_cap=2)
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    result = services.feature_cohort_add(flag=flag, users=[a, b, c])
    assert (result.added, result.over_cap) == ([a.username, b.username], [c.username])
    again = services.feature_cohort_add(flag=flag, users=[a, c])
    assert (again.added, again.already, again.over_cap) == ([], [a.username], [c.username])
    assert FeatureCohortMember.objects.filter(flag=flag).count() == 2


def test_a_csv_of_usernames_and_emails_adds_members_and_lists_unknown_lines(flag) -> None:
    ann, bob = UserFactory(username="ann"), UserFactory(username="bob", email="bob@example.test")
    waiting = WaitlistedUserFactory(username="wait")
    content = b"username\n@ann\nBOB@example.test\nwait\nnobody\n\n"
    result = services.feature_cohort_add_csv(flag=flag, content=content, filename="beta.csv")
    assert sorted(result.added) == ["ann", "bob"]
    assert result.unknown == ["wait", "nobody"]  # only members join a cohort
    row = FeatureCohortMember.objects.get(flag=flag, user=ann)
    assert (row.source, row.note) == ("csv", "beta.csv")
    assert not FeatureCohortMember.objects.filter(user=waiting).exists()
    assert bob in [m.user for m in flag.members.all()]


def test_a_csv_that_is_not_text_or_names_nobody_is_refused(flag) -> None:
    with pytest.raises(ApplicationError) as exc:
        services.feature_cohort_add_csv(flag=flag, content=b"\xff\xfe\x00bad")
    assert exc.value.code == "cohort_csv_encoding"
    with pytest.raises(ApplicationError) as exc:
        services.feature_cohort_add_csv(flag=flag, content=b"username\n")
    assert exc.value.code == "cohort_csv_empty"


def test_the_joined_before_rule_adds_the_older_members_only(flag) -> None:
    old = UserFactory(joined_at=datetime(2025, 1, 5, tzinfo=UTC))
    new = UserFactory(joined_at=datetime(2026, 6, 1, tzinfo=UTC))
    result = services.feature_cohort_add_by_rule(flag=flag, rule="joined_before",
                                                 on=date(2026, 1, 1))  # fmt: skip
    assert result.added == [old.username]
    assert not FeatureCohortMember.objects.filter(user=new).exists()
    assert FeatureCohortMember.objects.get(user=old).source == "rule"


def test_a_rule_that_needs_a_date_or_does_not_exist_is_refused(flag) -> None:
    with pytest.raises(ApplicationError) as exc:
        services.feature_cohort_add_by_rule(flag=flag, rule="joined_before")
    assert exc.value.code == "cohort_rule_date"
    with pytest.raises(ApplicationError) as exc:
        services.feature_cohort_add_by_rule(flag=flag, rule="lucky_people")
    assert exc.value.code == "cohort_rule_unknown"


def _feedback(flag: FeatureFlag, user: User | None = None, rating: int = 4) -> FeatureFeedback:
    return services.feature_feedback_create(key=flag.key, user=user or UserFactory(),
                                            rating=rating, text="works")  # fmt: skip


def test_feedback_needs_a_rating_from_1_to_5(flag) -> None:
    with pytest.raises(ApplicationError) as exc:
        _feedback(flag, rating=6)
    assert exc.value.code == "feedback_rating"


def test_triage_new_read_answered_by_notification(flag) -> None:
    staff = UserFactory(is_staff=True)
    feedback = _feedback(flag)
    assert feedback.status == "new"
    services.feature_feedback_mark_read(feedback=feedback, actor=staff)
    feedback.refresh_from_db()
    assert feedback.status == "read"
    services.feature_feedback_reply(feedback=feedback, actor=staff, message="Fixed, thanks!",
                                    channel="notification")  # fmt: skip
    feedback.refresh_from_db()
    assert (feedback.status, feedback.reply, feedback.replied_by) == (
        "answered", "Fixed, thanks!", staff)  # fmt: skip
    note = Notification.objects.get(recipient=feedback.user, kind="feedback_reply")
    assert note.data["message"] == "Fixed, thanks!"
    # reading answered feedback again does not move it back
    services.feature_feedback_mark_read(feedback=feedback, actor=staff)
    feedback.refresh_from_db()
    assert feedback.status == "answered"


def test_an_answer_by_email_is_mailed_after_commit(
    flag, django_capture_on_commit_callbacks
) -> None:
    feedback = _feedback(flag, UserFactory(email="ann@example.test"))
    with django_capture_on_commit_callbacks(execute=True):
        services.feature_feedback_reply(feedback=feedback, actor=UserFactory(is_staff=True),
                                        message="We hear you.", channel="email")  # fmt: skip
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ann@example.test"]
    assert "We hear you." in mail.outbox[0].body
    assert "Rockets" in mail.outbox[0].subject


def test_an_empty_answer_is_refused(flag) -> None:
    with pytest.raises(ApplicationError) as exc:
        services.feature_feedback_reply(feedback=_feedback(flag), actor=UserFactory(),
                                        message="  ", channel="email")  # fmt: skip
    assert exc.value.code == "feedback_reply_empty"


def test_weekly_counts_group_feedback_by_week(flag) -> None:
    for _ in range(3):
        _feedback(flag, rating=4)
    old = _feedback(flag, rating=2)
    FeatureFeedback.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(weeks=2))
    rows = selectors.feature_feedback_weekly_counts()
    assert [(r["feature"], r["total"], r["new"]) for r in rows] == [("rockets", 3, 3),
                                                                   ("rockets", 1, 1)]  # fmt: skip
    assert rows[0]["average_rating"] == 4.0
    assert rows[0]["week"] > rows[1]["week"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_staff_adding_at_once_never_pass_the_cap() -> None:
    """Each addition locks the flag row: with one place left and six people added from six
    connections at once, exactly one gets in."""
    flag = FeatureFlag.objects.create(key="rockets", name="Rockets", cohort_cap=1)
    people = [UserFactory() for _ in range(6)]
    barrier = threading.Barrier(len(people))
    errors: list[BaseException] = []

    def add(user: User) -> None:
        try:
            barrier.wait(timeout=60)
            services.feature_cohort_add(flag=flag, users=[user])
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(user,)) for user in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert FeatureCohortMember.objects.filter(flag=flag).count() == 1


def test_the_export_lists_cohorts_and_feedback_and_deletion_removes_them(flag) -> None:
    person = UserFactory()
    services.feature_cohort_add(flag=flag, users=[person])
    _feedback(flag, person, rating=5)
    data = selectors.account_export(person)
    assert data["beta_features"] == ["rockets"]
    assert [(f["feature"], f["rating"], f["text"]) for f in data["feature_feedback"]] == [
        ("rockets", 5, "works")
    ]
    services.account_delete(user=person, actor=person, reason="self")
    assert not FeatureCohortMember.objects.filter(user=person).exists()
    assert not FeatureFeedback.objects.filter(user=person).exists()
