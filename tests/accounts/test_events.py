"""accounts.events: what other apps hear about an account, only after the change commits."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import transaction

from accounts import events, services
from accounts.models import User
from accounts.permissions import user_require_member_now
from clubhouse.errors import ApplicationError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def disabled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replaces the registered hooks (rooms') with a recorder."""
    calls: list[int] = []
    monkeypatch.setattr(
        events, "ACCOUNT_DISABLED_HOOKS", [lambda *, user_id: calls.append(user_id)]
    )
    return calls


def test_a_ban_tells_the_hooks_once_after_commit(
    disabled: list[int], django_capture_on_commit_callbacks
) -> None:
    person, staff = UserFactory(), UserFactory(staff=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.user_ban(user=person, staff=staff)
    assert disabled == []  # queued, not run: a rollback would have told nobody
    for callback in callbacks:
        callback()
    assert disabled == [person.pk]


def test_a_rolled_back_ban_tells_nobody(
    disabled: list[int], django_capture_on_commit_callbacks
) -> None:
    person, staff = UserFactory(), UserFactory(staff=True)
    with (  # noqa: PT012 - the block is the transaction whose rollback is under test
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.user_ban(user=person, staff=staff)
        raise RuntimeError("the admin request failed later")
    assert disabled == []


def test_banning_a_banned_account_tells_nobody_again(
    disabled: list[int], django_capture_on_commit_callbacks
) -> None:
    person, staff = UserFactory(), UserFactory(staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.user_ban(user=person, staff=staff)
        services.user_ban(user=person, staff=staff)
    assert disabled == [person.pk]


def test_a_failing_hook_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def broken(*, user_id: int) -> None:
        raise RuntimeError("rooms is down")

    monkeypatch.setattr(
        events, "ACCOUNT_DISABLED_HOOKS", [broken, lambda *, user_id: calls.append(user_id)]
    )
    events.on_account_disabled(42)
    assert calls == [42]


def test_rooms_registers_its_hook_once() -> None:
    apps.get_app_config("rooms").ready()  # a second call (tests, reloads) adds nothing
    names = [getattr(hook, "__name__", "") for hook in events.ACCOUNT_DISABLED_HOOKS]
    assert names.count("room_account_disabled") == 1


# --- the check long-lived connections make -------------------------------------------------


def test_user_require_member_now_reads_the_account_not_the_object() -> None:
    person = UserFactory()
    user_require_member_now(person)  # an active member passes
    stale = User.objects.get(pk=person.pk)  # what a socket loaded when it opened
    services.user_ban(user=person, staff=UserFactory(staff=True))
    assert stale.is_active is True
    with pytest.raises(ApplicationError) as refused:
        user_require_member_now(stale)
    assert refused.value.code == "account_disabled"
    assert stale.is_active is False  # refreshed: later checks on the object agree

    gone = UserFactory()
    loaded = User.objects.get(pk=gone.pk)
    User.objects.filter(pk=gone.pk).delete()
    with pytest.raises(ApplicationError) as refused:
        user_require_member_now(loaded)
    assert refused.value.code == "account_disabled"  # a deleted account counts as disabled
