"""The staff home's cards: for each thing that may need a person today, a count and a link to
the admin list that shows exactly what was counted.

Figures come from each app's selectors (each answers with an `Attention`: the count and the
list's filter). A figure is shown only to someone allowed to open its list (the linked model
admin's view or change permission, so the roles staff get from Django groups apply); a card with
no figure left is not shown, and its selectors are not run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.contrib.admin import AdminSite
from django.contrib.admin.exceptions import NotRegistered
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from accounts import selectors as accounts_selectors
from clubhouse.attention import Attention
from clubs import selectors as clubs_selectors
from media_relay import selectors as relay_selectors
from payouts import selectors as payouts_selectors
from rooms import selectors as rooms_selectors


@dataclass
class Figure:
    label: str
    count: int
    url: str
    # A figure that is more than 0 means someone should act (a paid stipend does not).
    alarm: bool = True

    @property
    def needs_attention(self) -> bool:
        return self.alarm and self.count > 0


@dataclass
class Card:
    key: str
    title: str
    figures: list[Figure]
    # Per-card detail: the month's stipend failures, the relay workers, a line of context.
    failures: list[dict[str, Any]] = field(default_factory=list)
    failures_more: int = 0
    workers: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    problem: bool = False

    @property
    def needs_attention(self) -> bool:
        return self.problem or any(figure.needs_attention for figure in self.figures)


class _Links:
    """Admin list URLs for one request, for the models the person may open."""

    def __init__(self, site: AdminSite, request: HttpRequest) -> None:
        self.site = site
        self.request = request

    def may_open(self, model: str) -> bool:
        app_label, model_name = model.split(".")
        try:
            model_admin = self.site.get_model_admin(apps.get_model(app_label, model_name))
        except (LookupError, NotRegistered):
            return False
        return bool(model_admin.has_view_or_change_permission(self.request))

    def changelist(self, model: str, filters: dict[str, str] | None = None) -> str:
        app_label, model_name = model.split(".")
        url = reverse(f"admin:{app_label}_{model_name}_changelist", current_app=self.site.name)
        return f"{url}?{urlencode(filters)}" if filters else url

    def change(self, model: str, pk: int) -> str:
        app_label, model_name = model.split(".")
        return reverse(f"admin:{app_label}_{model_name}_change", args=[pk],
                       current_app=self.site.name)  # fmt: skip

    def figure(self, model: str, label: str, attention: Attention, alarm: bool = True) -> Figure:
        return Figure(label, attention.count, self.changelist(model, attention.filters), alarm)


def _applications(links: _Links) -> Card | None:
    model = "payouts.creatorapplication"
    if not links.may_open(model):
        return None
    waiting = payouts_selectors.creator_applications_waiting()
    return Card("applications", "Creator applications",
                [links.figure(model, "pending review", waiting)])  # fmt: skip


def _stipends(links: _Links, today: datetime) -> Card | None:
    model = "payouts.stipendpayment"
    if not links.may_open(model):
        return None
    run = payouts_selectors.stipend_run_summary(today.date())
    title = f"Stipend run, {run['month']:%B %Y}"
    waiting = payouts_selectors.stipend_payments_waiting()
    any_month = links.figure(model, "failed or stuck, any month", waiting)
    if not run["started"]:
        return Card("stipends", title, [any_month], note="This month's run has not started yet.")
    figures = [
        links.figure(model, "paid", run["paid"], alarm=False),
        links.figure(model, "failed", run["failed"]),
        links.figure(model, "processing", run["processing"], alarm=False),
        links.figure(model, "waiting to be sent", run["pending"], alarm=False),
        any_month,
    ]
    failures = [{**row, "url": links.change(model, row["id"])} for row in run["failures"]]
    return Card("stipends", title, figures, failures=failures,
                failures_more=run["failures_more"])  # fmt: skip


def _discrepancies(links: _Links) -> Card | None:
    model = "payouts.discrepancy"
    if not links.may_open(model):
        return None
    waiting = payouts_selectors.discrepancies_waiting()
    return Card("discrepancies", "Reconciliation discrepancies",
                [links.figure(model, "open", waiting)])  # fmt: skip


def _reports(links: _Links) -> Card | None:
    model = "accounts.report"
    if not links.may_open(model):
        return None
    waiting = accounts_selectors.reports_waiting()
    return Card("reports", "Reports of members", [links.figure(model, "waiting", waiting)])


def _club_reports(links: _Links) -> Card | None:
    model = "clubs.clubreport"
    if not links.may_open(model):
        return None
    waiting = clubs_selectors.club_reports_waiting()
    return Card("club-reports", "Reports of clubs", [links.figure(model, "waiting", waiting)])


def _room_reports(links: _Links) -> Card | None:
    model = "rooms.roomreport"
    if not links.may_open(model):
        return None
    waiting = rooms_selectors.room_reports_waiting()
    return Card("room-reports", "Reports of rooms", [links.figure(model, "waiting", waiting)])


def _refunds(links: _Links) -> Card | None:
    refunds, tickets = "payouts.chargerefund", "payouts.ticket"
    shown = [model for model in (refunds, tickets) if links.may_open(model)]
    if not shown:
        return None
    waiting = payouts_selectors.refunds_waiting()
    labels = {
        refunds: ("refunds failed and not retried, or pending too long", "charge_refunds"),
        tickets: ("tickets whose refund failed or is stuck", "tickets"),
    }
    figures = [links.figure(model, labels[model][0], waiting[labels[model][1]]) for model in shown]
    return Card("refunds", "Refunds stuck", figures)


def _webhooks(links: _Links, now: datetime) -> Card | None:
    model = "djstripe.webhookeventtrigger"
    if not links.may_open(model):
        return None
    waiting = payouts_selectors.webhooks_waiting()
    oldest = waiting["oldest"]
    note = ""
    if oldest is not None:
        note = f"The oldest arrived {timesince(oldest, now)} ago ({oldest:%Y-%m-%d %H:%M} UTC)."
    return Card("webhooks", "Stripe webhooks",
                [links.figure(model, "not handled", waiting["deliveries"])], note=note)  # fmt: skip


def _relay(links: _Links) -> Card | None:
    model = "media_relay.relayworker"
    if not links.may_open(model):
        return None
    load = relay_selectors.relay_workers_load()
    workers = load["workers"]
    url = links.changelist(model)
    figures = [
        Figure("alive", load["alive_count"], url, alarm=False),
        Figure("not answering", len(workers) - load["alive_count"], url),
        Figure("rooms", load["totals"]["rooms"], url, alarm=False),
        Figure("peers", load["totals"]["peers"], url, alarm=False),
    ]
    problem = load["state"] in {"all_workers_dead", "unreachable"}
    note = {
        "no_workers": "No relay worker has registered.",
        "all_workers_dead": "No relay worker is alive: rooms have no audio.",
        "unreachable": f"The relay registry could not be read: {load['error']}",
    }.get(load["state"], "")
    return Card("relay", "Relay workers", figures, workers=workers, note=note, problem=problem)


def staff_home_cards(site: AdminSite, request: HttpRequest) -> list[Card]:
    """The cards `request.user` may open, in the order of a day's work."""
    links = _Links(site, request)
    now = timezone.now()
    cards = [
        _applications(links),
        _stipends(links, now),
        _discrepancies(links),
        _reports(links),
        _club_reports(links),
        _room_reports(links),
        _refunds(links),
        _webhooks(links, now),
        _relay(links),
    ]
    return [card for card in cards if card is not None]
