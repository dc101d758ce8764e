"""Feature flags and beta cohorts: staff switch a feature, fill its cohort (one by one, from a CSV
file, or by a rule), and triage the feedback cohort members send.

A flag is `enabled` (the on/off switch) and either open to `everyone` or limited to its cohort,
which may have a size cap. Reads go through `accounts.selectors.feature_access`; a feature's own
service asks it (Send Money: `payouts.services.tips.tip_send`), not only its page.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import events
from accounts.models import FeatureCohortMember, FeatureFeedback, FeatureFlag, Notification, User
from accounts.services.notifications import notification_create
from clubhouse.errors import Conflict, InvalidInput, NotFound


@dataclass
class CohortAddResult:
    """What an addition did: who joined, who was already in, who did not fit under the cap,
    and (CSV) which lines named nobody."""

    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    over_cap: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.already)} already in"]
        if self.over_cap:
            parts.append(f"{len(self.over_cap)} left out by the cap")
        if self.unknown:
            parts.append(f"{len(self.unknown)} not found ({', '.join(self.unknown[:10])})")
        return ", ".join(parts)


def feature_flag_ensure(*, key: str, name: str, **defaults: Any) -> FeatureFlag:
    """Create the flag a feature asks for, once (post_migrate); staff's settings stay."""
    flag, _ = FeatureFlag.objects.get_or_create(key=key, defaults={"name": name, **defaults})
    return flag


def feature_cohort_add(
    *,
    flag: FeatureFlag,
    users: list[User],
    source: str = FeatureCohortMember.Source.MANUAL,
    note: str = "",
    actor: User | None = None,
) -> CohortAddResult:
    """Add `users` to the cohort in order, until the cap; the rest are reported, not added.
    The flag row is locked so two additions cannot both take the last places."""
    result = CohortAddResult()
    with transaction.atomic():
        flag = FeatureFlag.objects.select_for_update().get(pk=flag.pk)
        present = set(flag.members.values_list("user_id", flat=True))
        room = None if flag.cohort_cap is None else max(flag.cohort_cap - len(present), 0)
        rows: list[FeatureCohortMember] = []
        for user in users:
            if user.pk in present:
                result.already.append(user.username)
                continue
            if room is not None and len(rows) >= room:
                result.over_cap.append(user.username)
                continue
            present.add(user.pk)
            rows.append(
                FeatureCohortMember(flag=flag, user=user, source=source, note=note[:200],
                                    added_by=actor)
            )  # fmt: skip
            result.added.append(user.username)
        FeatureCohortMember.objects.bulk_create(rows)
    return result


def feature_cohort_add_csv(
    *, flag: FeatureFlag, content: bytes, filename: str = "", actor: User | None = None
) -> CohortAddResult:
    """A CSV of usernames or e-mail addresses, the first column of each line (a header line
    naming `username` or `email` is skipped). Only members can join a cohort."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("The file is not UTF-8 text.", code="cohort_csv_encoding") from exc
    names: list[str] = []
    for row in csv.reader(io.StringIO(text)):
        value = (row[0] if row else "").strip().removeprefix("@")
        if value and value.lower() not in {"username", "email", "e-mail"}:
            names.append(value)
    if not names:
        raise InvalidInput("The file names nobody.", code="cohort_csv_empty")
    found: dict[str, User] = {}
    members = User.objects.filter(is_active=True, status=User.Status.MEMBER)
    for user in members.filter(
        Q(username__in=names) | Q(email__in=[n.lower() for n in names if "@" in n])
    ):
        found[user.username.lower()] = user
        found[user.email.lower()] = user
    users: list[User] = []
    unknown: list[str] = []
    for name in names:
        match = found.get(name.lower())
        if match is None:
            unknown.append(name)
        elif match not in users:
            users.append(match)
    result = feature_cohort_add(flag=flag, users=users, source=FeatureCohortMember.Source.CSV,
                                note=filename, actor=actor)  # fmt: skip
    result.unknown = unknown
    return result


def feature_cohort_add_by_rule(
    *, flag: FeatureFlag, rule: str, on: date | None = None, actor: User | None = None
) -> CohortAddResult:
    """Add the members a registered rule picks (`accounts.events.FEATURE_COHORT_RULES`),
    oldest members first, until the cap."""
    cohort_rule = events.FEATURE_COHORT_RULES.get(rule)
    if cohort_rule is None:
        raise InvalidInput("No such rule.", code="cohort_rule_unknown", fields={"rule": [rule]})
    if cohort_rule.needs_date and on is None:
        raise InvalidInput("This rule needs a date.", code="cohort_rule_date",
                           fields={"on": ["required"]})  # fmt: skip
    users = list(
        User.objects.filter(
            pk__in=cohort_rule.user_ids(on), is_active=True, status=User.Status.MEMBER
        ).order_by("joined_at", "pk")
    )
    note = f"{cohort_rule.label}{f' {on.isoformat()}' if on else ''}"
    return feature_cohort_add(flag=flag, users=users, source=FeatureCohortMember.Source.RULE,
                              note=note, actor=actor)  # fmt: skip


# --- feedback ---------------------------------------------------------------------------------


def feature_feedback_create(
    *, key: str, user: User, rating: int, text: str = "", context: dict[str, Any] | None = None
) -> FeatureFeedback:
    """A cohort member's feedback on a feature they have (the caller attaches the context)."""
    flag = FeatureFlag.objects.filter(key=key).first()
    if flag is None:
        raise NotFound("No such feature.", code="feature_unknown")
    if not 1 <= int(rating) <= 5:
        raise InvalidInput("Rate from 1 to 5.", code="feedback_rating",
                           fields={"rating": ["1 to 5"]})  # fmt: skip
    return FeatureFeedback.objects.create(
        flag=flag, user=user, rating=int(rating), text=text.strip()[:4000], context=context or {}
    )


def feature_feedback_mark_read(*, feedback: FeatureFeedback, actor: User) -> FeatureFeedback:
    """Staff saw it. Idempotent; answered feedback stays answered."""
    with transaction.atomic():
        feedback = FeatureFeedback.objects.select_for_update().get(pk=feedback.pk)
        if feedback.status != FeatureFeedback.Status.NEW:
            return feedback
        feedback.status = FeatureFeedback.Status.READ
        feedback.read_by = actor
        feedback.save(update_fields=["status", "read_by"])
    return feedback


def feature_feedback_reply(
    *, feedback: FeatureFeedback, actor: User, message: str, channel: str
) -> FeatureFeedback:
    """Answer the person by e-mail or by a notification (after commit); the feedback becomes
    answered. Each call sends one more answer."""
    message = message.strip()
    if not message:
        raise InvalidInput("Write an answer.", code="feedback_reply_empty",
                           fields={"message": ["required"]})  # fmt: skip
    if channel not in FeatureFeedback.Channel.values:
        raise InvalidInput("Answer by e-mail or notification.", code="feedback_reply_channel",
                           fields={"channel": ["email or notification"]})  # fmt: skip
    with transaction.atomic():
        feedback = (
            FeatureFeedback.objects.select_for_update()
            .select_related("user", "flag")
            .get(pk=feedback.pk)
        )
        recipient = feedback.user
        if channel == FeatureFeedback.Channel.EMAIL and not recipient.email:
            raise Conflict("This person has no e-mail address.", code="feedback_reply_no_email")
        feedback.status = FeatureFeedback.Status.ANSWERED
        feedback.reply = message
        feedback.reply_channel = channel
        feedback.replied_by = actor
        feedback.replied_at = timezone.now()
        feedback.save(update_fields=["status", "reply", "reply_channel", "replied_by",
                                     "replied_at"])  # fmt: skip
        feature = feedback.flag.name or feedback.flag.key
        if channel == FeatureFeedback.Channel.NOTIFICATION:
            notification_create(
                recipient=recipient,
                kind=Notification.Kind.FEEDBACK_REPLY,
                actor=actor,
                data={"feature": feedback.flag.key, "feature_name": feature,
                      "feedback": feedback.pk, "message": message},
            )  # fmt: skip
        else:
            address = recipient.email

            def mail() -> None:
                send_mail(
                    subject=f"About your feedback on {feature}",
                    message=f"Hello {recipient.name or recipient.username},\n\n{message}\n\n"
                    f"— the Clubhouse team\n\nYou wrote: {feedback.text}",
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    recipient_list=[address],
                )

            transaction.on_commit(mail)
    return feedback
