"""Co-hosting an event takes the co-host's consent (issue #12, point 20): naming someone as a
host asks them (a notification with the action); until they accept they are not a host; a
block between them and a host refuses the invitation; a decline is final for that event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import Notification
from rooms import services as room_services
from rooms.models import EventCohostInvite, ScheduledEvent
from tests.rooms.factories import EventFactory, MemberFactory, block

pytestmark = pytest.mark.django_db


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _create_event(host: Any, *cohosts: Any) -> Any:
    return _as(host).post(
        "/api/v1/events/",
        {
            "title": "Compilers at night",
            "starts_at": (timezone.now() + timedelta(days=1)).isoformat(),
            "host_ids": [c.pk for c in cohosts],
        },
        format="json",
    )


def _host_ids(event_id: int) -> set[int]:
    return set(ScheduledEvent.objects.get(pk=event_id).hosts.values_list("pk", flat=True))


def _invite_of(user: Any) -> dict[str, Any]:
    [invite] = _as(user).get("/api/v1/events/cohost-invites/").json()["results"]
    return invite


def test_a_named_cohost_is_asked_and_is_not_a_host_until_they_accept() -> None:
    host, cohost = MemberFactory(), MemberFactory()
    created = _create_event(host, cohost)
    assert created.status_code == 201, created.json()
    event_id = created.json()["id"]
    assert [h["id"] for h in created.json()["hosts"]] == [host.pk]
    assert _host_ids(event_id) == {host.pk}

    asked = Notification.objects.get(recipient=cohost, kind="event_cohost")
    assert asked.actor == host
    assert asked.data["action"] == "invited"
    assert asked.data["event_id"] == event_id
    invite = _invite_of(cohost)
    assert invite["id"] == asked.data["invite_id"]
    assert invite["event"]["id"] == event_id
    assert invite["invited_by"]["id"] == host.pk
    # not a host yet: they cannot start the event's room
    refused = _as(cohost).post(f"/api/v1/events/{event_id}/start/", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_host"

    accepted = _as(cohost).post(f"/api/v1/events/cohost-invites/{invite['id']}/accept/")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["status"] == "accepted"
    assert _host_ids(event_id) == {host.pk, cohost.pk}
    told = Notification.objects.get(recipient=host, kind="event_cohost")
    assert (told.actor, told.data["action"]) == (cohost, "accepted")
    again = _as(cohost).post(f"/api/v1/events/cohost-invites/{invite['id']}/accept/")
    assert again.status_code == 200  # idempotent
    assert _as(cohost).get("/api/v1/events/cohost-invites/").json()["results"] == []


def test_a_decline_leaves_them_out_tells_the_host_and_is_final() -> None:
    host, cohost = MemberFactory(), MemberFactory()
    event_id = _create_event(host, cohost).json()["id"]
    invite = _invite_of(cohost)

    declined = _as(cohost).post(f"/api/v1/events/cohost-invites/{invite['id']}/decline/")

    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"
    assert _host_ids(event_id) == {host.pk}
    told = Notification.objects.get(recipient=host, kind="event_cohost")
    assert (told.actor, told.data["action"]) == (cohost, "declined")
    asked_again = _as(host).patch(
        f"/api/v1/events/{event_id}/", {"host_ids": [cohost.pk]}, format="json"
    )
    assert asked_again.status_code == 409
    assert asked_again.json()["error"]["code"] == "cohost_declined"
    late = _as(cohost).post(f"/api/v1/events/cohost-invites/{invite['id']}/accept/")
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "cohost_invite_not_pending"


@pytest.mark.parametrize("who_blocked", ["host", "cohost"])
def test_a_block_between_host_and_invitee_refuses_the_invitation(who_blocked: str) -> None:
    host, cohost = MemberFactory(), MemberFactory()
    if who_blocked == "host":
        block(host, cohost)
    else:
        block(cohost, host)

    created = _create_event(host, cohost)

    assert created.status_code == 403
    assert created.json()["error"]["code"] == "cohost_blocked"
    assert not ScheduledEvent.objects.filter(created_by=host).exists()
    assert not Notification.objects.filter(recipient=cohost).exists()


def test_adding_a_blocked_cohost_to_an_existing_event_is_refused() -> None:
    host, other_host, blocked = MemberFactory(), MemberFactory(), MemberFactory()
    event = EventFactory(created_by=host, hosts=[host, other_host])
    block(blocked, other_host)  # blocked with any host, not only the one asking

    edited = _as(host).patch(
        f"/api/v1/events/{event.pk}/", {"host_ids": [other_host.pk, blocked.pk]}, format="json"
    )

    assert edited.status_code == 403
    assert edited.json()["error"]["code"] == "cohost_blocked"
    assert _host_ids(event.pk) == {host.pk, other_host.pk}
    assert not EventCohostInvite.objects.filter(user=blocked).exists()


def test_a_block_after_the_invitation_refuses_the_accept() -> None:
    host, cohost = MemberFactory(), MemberFactory()
    event_id = _create_event(host, cohost).json()["id"]
    invite = _invite_of(cohost)
    account_services.user_block(blocker=host, blocked=cohost)

    refused = _as(cohost).post(f"/api/v1/events/cohost-invites/{invite['id']}/accept/")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "cohost_blocked"
    assert _host_ids(event_id) == {host.pk}


def test_only_the_invitee_answers_their_invitation() -> None:
    host, cohost, stranger = MemberFactory(), MemberFactory(), MemberFactory()
    _create_event(host, cohost)
    invite = _invite_of(cohost)
    for action in ("accept", "decline"):
        response = _as(stranger).post(f"/api/v1/events/cohost-invites/{invite['id']}/{action}/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "cohost_invite_not_found"
    assert EventCohostInvite.objects.get(pk=invite["id"]).status == "pending"


def test_leaving_someone_out_of_the_hosts_withdraws_their_invitation_or_their_role() -> None:
    host, accepted, pending = MemberFactory(), MemberFactory(), MemberFactory()
    event_id = _create_event(host, accepted, pending).json()["id"]
    accepted_invite = EventCohostInvite.objects.get(user=accepted)
    _as(accepted).post(f"/api/v1/events/cohost-invites/{accepted_invite.pk}/accept/")

    _as(host).patch(f"/api/v1/events/{event_id}/", {"host_ids": []}, format="json")

    assert _host_ids(event_id) == {host.pk}
    assert set(EventCohostInvite.objects.values_list("status", flat=True)) == {"revoked"}
    late = _as(pending).post(
        f"/api/v1/events/cohost-invites/{EventCohostInvite.objects.get(user=pending).pk}/accept/"
    )
    assert late.status_code == 409
    # asked again after a withdrawal: a new question, which they may accept
    _as(host).patch(f"/api/v1/events/{event_id}/", {"host_ids": [pending.pk]}, format="json")
    again = _as(pending).post(
        f"/api/v1/events/cohost-invites/{EventCohostInvite.objects.get(user=pending).pk}/accept/"
    )
    assert again.status_code == 200
    assert _host_ids(event_id) == {host.pk, pending.pk}


def test_an_accepted_cohost_joins_the_started_room_as_a_moderator() -> None:
    host, cohost = MemberFactory(), MemberFactory()
    event_id = _create_event(host, cohost).json()["id"]
    _as(cohost).post(f"/api/v1/events/cohost-invites/{_invite_of(cohost)['id']}/accept/")
    started = _as(host).post(f"/api/v1/events/{event_id}/start/", {}, format="json")
    assert started.status_code == 200
    joined = room_services.room_join(user=cohost, room_id=started.json()["room"]["id"])
    assert joined.role == "moderator"


def test_the_cohost_operations_are_in_the_openapi_schema(client) -> None:  # type: ignore[no-untyped-def]
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert "get" in paths["/api/v1/events/cohost-invites/"]
    for action in ("accept", "decline"):
        assert "post" in paths[f"/api/v1/events/cohost-invites/{{invite_id}}/{action}/"]
