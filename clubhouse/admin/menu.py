"""The admin menu in groups a staff member recognises, in the order of their work, instead of
Django's alphabetical list of apps (where dj-stripe's ~50 tables drowned ours and "Accounts"
was both allauth's and ours). Framework tables (dj-stripe's Stripe mirror, allauth's, Celery
beat's, sites) go in one collapsed "Raw data" group, for superusers only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Group:
    key: str
    name: str
    # "app_label.model_name", in menu order; a model named here goes in this group whatever its
    # app.
    models: tuple[str, ...]
    # Any other model of these apps (a new one) lands here too, after those listed.
    apps: tuple[str, ...] = ()


GROUPS = (
    Group(
        "people",
        "People",
        (
            "accounts.user",
            "accounts.report",
            "accounts.invitation",
            "accounts.waitlistvouch",
            "accounts.invitationquotaaward",
            "accounts.accountevent",
            "accounts.follow",
            "accounts.block",
            "accounts.notification",
            "accounts.topic",
            "auth.group",
        ),
        apps=("accounts",),
    ),
    Group(
        "rooms-clubs",
        "Rooms & clubs",
        (
            "rooms.room",
            "rooms.scheduledevent",
            "clubs.club",
            "clubs.clubreport",
            "clubs.clubmembershiprequest",
            "clubs.clubnomination",
            "clubs.clubmembership",
            "clubs.premiummembership",
            "clubs.clubfollow",
            "clubs.clubauditentry",
            "rooms.roomparticipant",
            "rooms.roominvite",
            "rooms.roomremoval",
            "rooms.roomvisit",
            "rooms.roomeventlog",
        ),
        apps=("rooms", "clubs"),
    ),
    Group(
        "creators-money",
        "Creators & money",
        (
            "payouts.creatorapplication",
            "payouts.creatorprogram",
            "payouts.stipendrun",
            "payouts.stipendpayment",
            "payouts.discrepancy",
            "payouts.chargerefund",
            "payouts.tip",
            "payouts.ticket",
            "payouts.ticketprice",
            "payouts.clubplan",
            "payouts.clubsubscription",
            "payouts.membershipinvoice",
            "payouts.connectedaccount",
            "payouts.connectedpayout",
            "payouts.journal",
            "payouts.ledgeraccount",
            "payouts.auditentry",
        ),
        apps=("payouts",),
    ),
    Group(
        "operations",
        "Operations",
        ("media_relay.relayworker", "payouts.handledevent"),
        apps=("media_relay",),
    ),
)

RAW_DATA = Group("raw-data", "Raw data", ())

# The Raw data group's sections, one per framework app, in this order (any other app after them,
# under its own name).
RAW_SECTIONS = {
    "djstripe": "Stripe mirror (dj-stripe)",
    "account": "Sign-in e-mail addresses (allauth)",
    "mfa": "Two-factor devices (allauth)",
    "django_celery_beat": "Schedules (Celery beat)",
    "sites": "Sites",
}


def _key(model: dict[str, Any]) -> str:
    return f"{model['model']._meta.app_label}.{model['model']._meta.model_name}"


def _group_dict(group: Group, models: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": group.name,
        "app_label": group.key,
        "app_url": None,
        "has_module_perms": True,
        "models": models,
        "sections": [{"name": group.name, "models": models}],
        "collapsed": False,
    }


def menu_groups(models: list[dict[str, Any]], *, superuser: bool) -> list[dict[str, Any]]:
    """Regroup the admin's model entries (those the person may see, as Django builds them)
    into GROUPS, then Raw data (superusers only). Each entry keeps Django's keys, plus its
    `app_label` (unique element ids across groups)."""
    placed = {name: group for group in GROUPS for name in group.models}
    by_app = {app: group for group in GROUPS for app in group.apps}
    members: dict[str, list[dict[str, Any]]] = {group.key: [] for group in GROUPS}
    raw: dict[str, list[dict[str, Any]]] = {}
    for model in models:
        entry = {**model, "app_label": model["model"]._meta.app_label}
        group = placed.get(_key(model)) or by_app.get(entry["app_label"])
        if group is None:
            raw.setdefault(entry["app_label"], []).append(entry)
        else:
            members[group.key].append(entry)
    result: list[dict[str, Any]] = []
    for group in GROUPS:
        order = {name: i for i, name in enumerate(group.models)}
        entries = sorted(
            members[group.key],
            key=lambda m: (order.get(_key(m), len(order)), str(m["name"]).lower()),
        )
        if entries:
            result.append(_group_dict(group, entries))
    if superuser and raw:
        sections_order = {app: i for i, app in enumerate(RAW_SECTIONS)}
        apps = sorted(raw, key=lambda app: (sections_order.get(app, len(sections_order)), app))
        sections: list[dict[str, Any]] = [
            {
                "name": RAW_SECTIONS.get(app) or _app_name(raw[app][0]),
                "models": sorted(raw[app], key=lambda m: str(m["name"]).lower()),
            }
            for app in apps
        ]
        everything = [model for section in sections for model in section["models"]]
        result.append(
            {**_group_dict(RAW_DATA, everything), "sections": sections, "collapsed": True}
        )
    return result


def _app_name(model: dict[str, Any]) -> str:
    config = model["model"]._meta.app_config
    return f"{config.verbose_name} ({config.label})"
