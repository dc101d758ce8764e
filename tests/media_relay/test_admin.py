"""The relay's admin page: whoever is on call (a superuser, or staff given
`media_relay.view_relayworker`) sees every worker's live figures; no staff role does, nor does
anyone else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from typing import Any as SettingsWrapper

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.roles import (
    CREATOR_CURATORS,
    FINANCE,
    SUPPORT,
    TRUST_AND_SAFETY,
    role_grant,
    roles_sync,
)
from media_relay.placement import relay_registry
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

PAGE = "/admin/media_relay/relayworker/"


def on_call() -> Any:
    """A staff member a superuser gave the relay page (not a superuser themselves)."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="media_relay", codename="view_relayworker")
    )
    return user


@pytest.fixture
def registry(settings: SettingsWrapper) -> Iterator[None]:
    """Two workers heartbeating into the real (Redis) registry under a prefix of this test's."""
    settings.RELAY_REDIS_PREFIX = prefix = f"relay-admin-{uuid.uuid4().hex[:8]}"
    settings.RELAY_WORKER_TTL_S = 6.0
    registry = relay_registry()
    registry.heartbeat(
        "relay-a",
        {
            "channel": "relay.relay-a",
            "pid": 4242,
            "rooms": 3,
            "peers": 517,
            "packets_in": 90_210,
            "packets_out": 4_605_311,
            "drops": 77,
            "send_skipped": 5,
            "cpu_s": 812.5,
            "cpu_percent": 37.5,
            "rss_bytes": 123_400_000,
            "ice_connected_relay": 31,
            "ice_connected_prflx": 402,
            "ice_failed_host": 6,
        },
    )
    registry.heartbeat(
        "relay-b", {"rooms": 1, "peers": 9, "packets_out": 1000, "ice_connected_relay": 2}
    )
    yield
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


def test_staff_see_each_workers_rooms_peers_packets_drops_cpu_and_rss(
    client: Client, registry: None
) -> None:
    client.force_login(on_call())  # staff, not superuser
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    for figure in ("relay-a", "4242", "517", "90210", "4605311", "77", "37.5", "812.5", "123.4"):
        assert figure in html, figure
    assert "relay-b" in html
    assert "526" in html  # peers over the live workers
    assert "running" in html


def test_staff_see_how_members_audio_connects_per_candidate_type(
    client: Client, registry: None
) -> None:
    client.force_login(on_call())
    html = client.get(PAGE).content.decode()
    assert "How members' audio connects" in html
    assert '<tr data-kind="relay"><td>relay</td><td>33</td><td>0</td></tr>' in html
    assert '<tr data-kind="prflx"><td>prflx</td><td>402</td><td>0</td></tr>' in html
    assert '<tr data-kind="host"><td>host</td><td>0</td><td>6</td></tr>' in html


def test_the_page_is_linked_from_the_admin_index_for_staff(client: Client, registry: None) -> None:
    client.force_login(on_call())
    assert PAGE in client.get("/admin/").content.decode()


def test_a_worker_that_stopped_beating_is_shown_dead(
    client: Client, registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    later = time.time() + 30
    monkeypatch.setattr("media_relay.placement.time.time", lambda: later)
    client.force_login(on_call())
    html = client.get(PAGE).content.decode()
    assert 'class="dead"' in html
    assert 'class="alive"' not in html
    assert "all_workers_dead" in html


@pytest.mark.parametrize("role", [CREATOR_CURATORS, FINANCE, TRUST_AND_SAFETY, SUPPORT])
def test_no_staff_role_sees_the_relay_page_or_its_menu_entry(
    client: Client, registry: None, role: str
) -> None:
    roles_sync()
    staff = UserFactory(is_staff=True)
    role_grant(user=staff, role=role)
    client.force_login(staff)
    assert client.get(PAGE).status_code == 403
    assert PAGE not in client.get("/admin/").content.decode()


def test_non_staff_members_are_refused(client: Client, registry: None) -> None:
    client.force_login(UserFactory())
    page = client.get(PAGE)
    assert page.status_code == 302
    assert "/admin/login/" in page["Location"]
    assert "4605311" not in page.content.decode()


def test_anonymous_visitors_are_sent_to_the_login(client: Client, registry: None) -> None:
    page = client.get(PAGE)
    assert page.status_code == 302
    assert "/admin/login/" in page["Location"]


def test_nothing_can_be_added_or_changed(client: Client, registry: None) -> None:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get(PAGE + "add/").status_code == 404
    assert client.post(PAGE, {"action": "delete_selected"}).status_code in (200, 405)
    assert client.get(PAGE + "1/change/").status_code == 404


def test_an_unreachable_registry_is_reported_not_a_server_error(
    client: Client, settings: SettingsWrapper
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    client.force_login(on_call())
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "could not be read" in page.content.decode()
