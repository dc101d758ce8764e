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
  belongs to; payouts: `can_receive_money`, whether the page offers "Send money").
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
