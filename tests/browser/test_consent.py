"""The web client's side of consent (issue #12, points 19 and 20): a co-host answers the
invitation from their notifications, and a person whose address is unconfirmed sees a banner
that mails the link again."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from accounts.models import Notification
from rooms import schedule_services
from rooms.models import EventCohostInvite
from tests.browser.conftest import assert_every_control_is_named
from tests.factories import UserFactory
from tests.rooms.factories import EventFactory


def test_a_cohost_accepts_from_their_notifications(new_page: Any) -> None:
    host, me = UserFactory(display_name="Grace"), UserFactory()
    event = EventFactory(created_by=host, hosts=[host], title="Compilers at night")
    schedule_services.event_update(user=host, event_id=event.pk, host_ids=[me.pk])
    page = new_page(me)
    page.goto("/notifications/")
    row = page.locator(
        "[data-notifications-list] li", has_text="Grace asked you to co-host “Compilers at night”."
    )
    expect(row).to_be_visible()
    assert_every_control_is_named(page)
    row.get_by_role("button", name="Accept").click()
    expect(row).to_contain_text("You are a co-host.")
    assert event.hosts.filter(pk=me.pk).exists()
    assert EventCohostInvite.objects.get(event=event, user=me).status == "accepted"
    assert Notification.objects.filter(recipient=host, kind="event_cohost").exists()
    page.console.assert_clean()


def test_a_cohost_declines_from_their_notifications(new_page: Any) -> None:
    host, me = UserFactory(display_name="Grace"), UserFactory()
    event = EventFactory(created_by=host, hosts=[host], title="Compilers at night")
    schedule_services.event_update(user=host, event_id=event.pk, host_ids=[me.pk])
    page = new_page(me)
    page.goto("/notifications/")
    row = page.locator("[data-notifications-list] li", has_text="asked you to co-host")
    row.get_by_role("button", name="Decline").click()
    expect(row).to_contain_text("You declined.")
    assert not event.hosts.filter(pk=me.pk).exists()
    page.console.assert_clean()


def test_an_unconfirmed_address_shows_a_banner_that_mails_the_link_again(new_page: Any) -> None:
    me = UserFactory(email_verified=False)
    page = new_page(me)
    page.goto("/invitations/")
    banner = page.locator("[data-email-unverified]")
    expect(banner).to_contain_text("Confirm your e-mail address")
    banner.get_by_role("button", name="Send the link again").click()
    # allauth's e-mail page says it went (the mail leaves from the server process)
    expect(page.locator(".messages")).to_contain_text(f"sent to {me.email}")
    expect(page.locator("[data-email-unverified]")).to_be_visible()
    page.console.assert_clean()
