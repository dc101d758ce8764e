"""The only place accounts tell other apps about a change to an account, always after commit.

accounts is below every other app (they import its selectors and services, never its models
nor the reverse), so
it reaches them through hooks they register at start-up (`AppConfig.ready`):

- `ACCOUNT_DISABLED_HOOKS`: each is called as `hook(user_id=...)` once the transaction that
  disabled the account (a ban, `accounts.services.user_ban`) commits. rooms registers
  `rooms.services.room_account_disabled`: it closes the person's sockets on every web process
  and takes them out of every live room, which drops their audio at the relay. Account deletion
  (`accounts.services.account_delete`) disables the account too, so it calls them as well.
- `ACCOUNT_DELETE_GUARDS`: each is called as `guard(user=...)` inside the deletion's transaction,
  before anything is removed; a guard refuses by raising an `ApplicationError` with a stable code
  (payouts: money still on its way to the person).
- `ACCOUNT_DELETING_HOOKS`: each is called as `hook(user=...)` inside the deletion's transaction
  (caller holds the user row lock) and removes what its app keeps about the person's social life
  (rooms: invites, RSVPs, visits; clubs: memberships, follows, pending decisions; payouts: ends
  the creator program). A hook that raises rolls the whole deletion back. Money rows stay.
- `ACCOUNT_EXPORT_SECTIONS`: name → `section(user=...)` returning JSON-ready data; the data
  export (`accounts.selectors.account_export`) gathers every app's section under its name.
- `USER_BLOCKED_HOOKS`: each is called as `hook(blocker_id=..., blocked_id=...)` once the
  transaction that created a block (`accounts.services.user_block`) commits. rooms registers
  `rooms.services.room_user_blocked`: the blocked person leaves the live rooms the blocker
  moderates (the rule in rooms/rules.py that bars their entry).
- `PROFILE_SECTIONS`: name → `section(user=...)`; the profile page (`accounts.views.profile`)
  adds each value to its template context under its name (clubs: `clubs`, the clubs the person
  belongs to).
- `PROFILE_VIEWER_SECTIONS`: name → `section(user=..., viewer=...)` returning a dict of values
  that depend on who looks (`viewer` may be anonymous); the profile page adds them to its
  context and the REST profile (`accounts.api`) to its body (payouts: `money`, with
  `can_receive_money`, `receive_money_reason` for the person themselves, `can_send_money`,
  `send_money_reason`, `send_money_beta`). `SETTINGS_SECTIONS` does the same for the settings
  page (`section(user=...)`; payouts: the creator's own Send Money switch).
- `FEATURE_COHORT_RULES`: name → `CohortRule`, the rules staff use to fill a feature's beta
  cohort in admin (accounts: members who joined before a date; payouts: followers of program
  creators).
- `PERSONAL_EVENT_SENDERS`: each is called as `sender(user_id, event)` to put a personal event
  on every open socket of the person. rooms registers the realtime platform's door
  (`rooms.realtime.broadcast.user_send`). accounts sends two (docs/protocol.md), after the
  transaction that changed the notifications commits: `notification.created` (`{"notification":
  {...}, "unread": n}`) and `notification.read` (`{"unread": n}`, another tab or device read
  some).
- `DIGEST_SECTIONS`: name → `section(user=...)` returning a list of lines (str) for the weekly
  digest mail, or an empty list; rooms adds the person's events of the coming week (hosted,
  RSVP'd, by people they follow, of their clubs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any, Protocol

from django.db import transaction

logger = logging.getLogger(__name__)


class AccountDisabledHook(Protocol):
    def __call__(self, *, user_id: int) -> object: ...


class UserBlockedHook(Protocol):
    def __call__(self, *, blocker_id: int, blocked_id: int) -> object: ...


ACCOUNT_DISABLED_HOOKS: list[AccountDisabledHook] = []
USER_BLOCKED_HOOKS: list[UserBlockedHook] = []


class AccountHook(Protocol):
    def __call__(self, *, user: Any) -> object: ...


ACCOUNT_DELETE_GUARDS: list[AccountHook] = []
ACCOUNT_DELETING_HOOKS: list[AccountHook] = []
ACCOUNT_EXPORT_SECTIONS: dict[str, AccountHook] = {}
PROFILE_SECTIONS: dict[str, AccountHook] = {}
DIGEST_SECTIONS: dict[str, AccountHook] = {}


class PersonalEventSender(Protocol):
    def __call__(self, user_id: int, event: dict[str, Any]) -> object: ...


PERSONAL_EVENT_SENDERS: list[PersonalEventSender] = []

NOTIFICATION_CREATED = "notification.created"
NOTIFICATION_READ = "notification.read"


def personal_event_sender_register(sender: PersonalEventSender) -> None:
    """Idempotent: `ready()` may run more than once (tests, reloads)."""
    if sender not in PERSONAL_EVENT_SENDERS:
        PERSONAL_EVENT_SENDERS.append(sender)


def _personal_send(user_id: int, event: dict[str, Any]) -> None:
    for sender in list(PERSONAL_EVENT_SENDERS):  # noqa: PERF101 - a snapshot
        try:
            sender(user_id, event)
        except Exception:
            logger.exception("could not send %s to user %s", event.get("type"), user_id)


def notification_created(*, user_id: int, notification: dict[str, Any], unread: int) -> None:
    """Called after commit (accounts.services.notifications)."""
    _personal_send(
        user_id,
        {"type": NOTIFICATION_CREATED, "data": {"notification": notification, "unread": unread}},
    )


def notifications_read(*, user_id: int, unread: int) -> None:
    """Called after commit (accounts.services.notifications)."""
    _personal_send(user_id, {"type": NOTIFICATION_READ, "data": {"unread": unread}})


class ViewerSection(Protocol):
    def __call__(self, *, user: Any, viewer: Any) -> dict[str, Any]: ...


PROFILE_VIEWER_SECTIONS: dict[str, ViewerSection] = {}
SETTINGS_SECTIONS: dict[str, AccountHook] = {}


@dataclass(frozen=True)
class CohortRule:
    """A way to fill a cohort: `user_ids(on)` gives the people it picks (`on` is the date the
    staff member gave, when `needs_date`)."""

    label: str
    user_ids: Callable[[date | None], Iterable[int]]
    needs_date: bool = False


FEATURE_COHORT_RULES: dict[str, CohortRule] = {}


def hook_register(hooks: list[AccountHook], hook: AccountHook) -> None:
    """Idempotent: `ready()` may run more than once (tests, reloads)."""
    if hook not in hooks:
        hooks.append(hook)


def on_account_disabled(user_id: int) -> None:
    """Call every hook; one failure does not stop the others (the ban is committed)."""
    for hook in list(ACCOUNT_DISABLED_HOOKS):  # noqa: PERF101 - a snapshot: a hook may (un)register hooks
        try:
            hook(user_id=user_id)
        except Exception:
            logger.exception("account-disabled hook %r failed for user %s", hook, user_id)


def account_disabled_on_commit(*, user_id: int) -> None:
    transaction.on_commit(partial(on_account_disabled, user_id))


def on_user_blocked(blocker_id: int, blocked_id: int) -> None:
    """Call every hook; one failure does not stop the others (the block is committed)."""
    for hook in list(USER_BLOCKED_HOOKS):  # noqa: PERF101 - a snapshot: a hook may (un)register hooks
        try:
            hook(blocker_id=blocker_id, blocked_id=blocked_id)
        except Exception:
            logger.exception(
                "user-blocked hook %r failed for %s blocking %s", hook, blocker_id, blocked_id
            )


def user_blocked_on_commit(*, blocker_id: int, blocked_id: int) -> None:
    transaction.on_commit(partial(on_user_blocked, blocker_id, blocked_id))
