"""The staff home (/admin/): a card per thing that needs a person today, with the database's
count and a link to the list of exactly those rows; everything else in a grouped menu, the
framework tables in one collapsed "Raw data" group for superusers only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from media_relay.placement import relay_registry
from payouts import services
from tests.factories import ReportFactory, UserFactory

from .world import creator_with_stipend, everything_waiting, figures, links, this_month

pytestmark = pytest.mark.django_db


def _staff_with(*codenames: str) -> Any:
    """A staff member (not a superuser) whose role (a Django group) grants these permissions,
    as the roles staff are given will."""
    user = UserFactory(is_staff=True)
    role = Group.objects.create(name=f"role-{uuid.uuid4().hex[:6]}")
    app_model = [c.split(".") for c in codenames]
    role.permissions.set(
        [Permission.objects.get(content_type__app_label=a, codename=c) for a, c in app_model]
    )
    user.groups.add(role)
    return user


def _home(client: Client, user: Any) -> str:
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_superuser_sees_every_card_with_the_databases_counts(client: Client) -> None:
    world = everything_waiting()
    html = _home(client, UserFactory(staff=True))
    shown = figures(html)
    for card, expected in world.expected.items():
        assert {label: shown[card][label] for label in expected} == expected, card
    assert "relay" in shown
    assert "The oldest arrived" in html  # how long the unhandled webhook has waited


def test_each_figure_links_to_a_list_of_exactly_the_rows_it_counts(client: Client) -> None:
    everything_waiting()
    html = _home(client, UserFactory(staff=True))
    counted, urls = figures(html), links(html)
    for card, rows in urls.items():
        if card == "relay":
            continue  # the relay's page is not a list of rows
        for label, url in rows.items():
            response = client.get(url)
            assert response.status_code == 200, (card, label, url)
            assert "e=1" not in response.request.get("QUERY_STRING", ""), url  # a bad filter
            assert response.context["cl"].result_count == counted[card][label], (card, label)


def test_the_stipend_card_names_each_failed_creator_with_stripes_reason(client: Client) -> None:
    world = everything_waiting()
    html = _home(client, UserFactory(staff=True))
    failure = re.search(r'data-failure="refused_creator">(.*?)</li>', html, re.S)
    assert failure is not None
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", failure.group(1)))
    payment = world.refused_creator.stipend_payments.get()
    assert "Refused Creator (@refused_creator)" in text
    assert payment.error
    assert payment.error in text
    assert f"/admin/payouts/stipendpayment/{payment.pk}/change/" in failure.group(1)
    assert 'data-failure="paid_creator"' not in html


def test_before_this_months_run_the_stipend_card_says_it_has_not_started(
    client: Client,
) -> None:
    html = _home(client, UserFactory(staff=True))
    assert "This month&#x27;s run has not started yet." in html
    assert figures(html)["stipends"] == {"failed or stuck, any month": 0}


def test_a_card_shows_only_when_its_list_may_be_opened(client: Client) -> None:
    everything_waiting()
    moderator = _staff_with("accounts.view_report", "clubs.view_clubreport")
    shown = figures(_home(client, moderator))
    # Nothing else was granted: not even the relay (superusers' and the on-call's).
    assert set(shown) == {"reports", "club-reports"}
    assert shown["reports"] == {"waiting": 3}


def test_a_card_shows_the_figures_whose_list_may_be_opened_and_only_those(
    client: Client,
) -> None:
    everything_waiting()
    support = _staff_with("payouts.view_ticket")
    assert figures(_home(client, support))["refunds"] == {
        "tickets whose refund failed or is stuck": 1
    }


def test_a_staff_member_who_is_not_a_superuser_has_no_raw_data_group(client: Client) -> None:
    staff = _staff_with("accounts.view_report", "djstripe.view_webhookeventtrigger",
                        "account.view_emailaddress")  # fmt: skip
    html = _home(client, staff)
    assert 'data-staff-group="raw-data"' not in html
    assert "Raw data" not in html
    # The webhook card links into dj-stripe's table; only the Raw data menu is withheld.
    assert "webhooks" in figures(html)


def test_a_superuser_finds_the_framework_tables_in_one_collapsed_raw_data_group(
    client: Client,
) -> None:
    html = _home(client, UserFactory(staff=True))
    raw = re.search(r'<details class="[^"]*" data-staff-group="raw-data">(.*?)</details>', html,
                    re.S)  # fmt: skip
    assert raw is not None, "the Raw data group is a closed <details>"
    for table in ("/admin/djstripe/coupon/", "/admin/account/emailaddress/",
                  "/admin/django_celery_beat/periodictask/", "/admin/sites/site/"):  # fmt: skip
        assert table in raw.group(1), table
    other_groups = html[html.index('class="staff-menu"') : raw.start()]
    assert "/admin/djstripe/" not in other_groups
    assert "/admin/account/" not in other_groups


def test_the_menu_groups_come_in_order_with_clear_names_and_no_name_twice(
    client: Client,
) -> None:
    html = _home(client, UserFactory(staff=True))
    menu = html[html.index('class="staff-menu"') :]
    groups = re.findall(r'data-staff-group="([^"]+)"', menu)
    assert groups == ["people", "rooms-clubs", "creators-money", "operations", "raw-data"]
    captions = re.findall(r'<(?:span class="section"|summary)>([^<]+)<', menu)
    assert len(captions) == len(set(captions)), captions
    assert "Accounts" not in captions


def test_every_registered_model_is_in_the_superusers_menu_exactly_once(client: Client) -> None:
    html = _home(client, UserFactory(staff=True))
    menu = html[html.index('class="staff-menu"') :]
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert len(re.findall(rf'<th scope="row"[^>]*>\s*<a href="{re.escape(url)}"', menu)) == 1, (
            url
        )


def test_an_apps_own_page_still_lists_that_apps_models(client: Client) -> None:
    client.force_login(UserFactory(staff=True))
    page = client.get("/admin/payouts/")
    assert page.status_code == 200
    assert "/admin/payouts/creatorapplication/" in page.content.decode()


def test_the_sidebar_of_every_page_uses_the_same_groups(client: Client) -> None:
    client.force_login(UserFactory(staff=True))
    html = client.get("/admin/accounts/report/").content.decode()
    sidebar = html[html.index('id="nav-sidebar"') :]
    assert 'data-staff-group="people"' in sidebar
    assert 'data-staff-group="raw-data"' in sidebar


def test_the_home_page_needs_no_more_queries_when_more_rows_wait(client: Client) -> None:
    everything_waiting()
    client.force_login(UserFactory(staff=True))
    with CaptureQueriesContext(connection) as before:
        assert client.get("/admin/").status_code == 200
    for _ in range(5):
        ReportFactory()
    refused = creator_with_stipend(this_month(), username="refused_again", refused=True)
    services.stipend_run_month(month=this_month())
    assert refused.stipend_payments.get().status == "failed"
    with CaptureQueriesContext(connection) as after:
        assert client.get("/admin/").status_code == 200
    assert len(after) == len(before)


@pytest.fixture
def two_workers(settings: Any) -> Iterator[None]:
    """Two workers heartbeating into the real (Redis) registry, one gone quiet."""
    import redis

    settings.RELAY_REDIS_PREFIX = prefix = f"staff-home-{uuid.uuid4().hex[:8]}"
    settings.RELAY_WORKER_TTL_S = 6.0
    registry = relay_registry()
    registry.heartbeat("relay-a", {"rooms": 3, "peers": 517, "cpu_percent": 37.5})
    registry.heartbeat("relay-b", {"rooms": 1, "peers": 9})
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


@pytest.mark.redis
def test_the_relay_card_shows_the_workers_alive_and_their_load(
    client: Client, two_workers: None
) -> None:
    assert "relay" not in figures(_home(client, _staff_with()))  # no role holds it
    html = _home(client, _staff_with("media_relay.view_relayworker"))
    assert figures(html)["relay"] == {"alive": 2, "not answering": 0, "rooms": 4, "peers": 526}
    assert 'data-worker="relay-a"' in html
    assert "37.5" in html
