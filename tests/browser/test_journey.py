"""Acceptance: a new person accepts an invitation, signs up, follows someone, and sees that
person's live room in the hallway."""

from __future__ import annotations

import re
from typing import Any

from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from playwright.sync_api import expect

from accounts.models import User
from rooms.services import room_create
from tests.browser.conftest import assert_every_control_is_named
from tests.factories import PASSWORD, InvitationFactory, TopicFactory, UserFactory


def test_invited_person_signs_up_follows_and_finds_a_live_room(
    new_page: Any, screenshots: Any
) -> None:
    TopicFactory(slug="jazz", name="Jazz")
    grace = UserFactory(username="grace", display_name="Grace Hopper")
    ada = UserFactory(username="ada", display_name="Ada Lovelace")
    InvitationFactory(inviter=grace, email="new@example.com", token="welcome-token")
    room_create(user=ada, title="Engines after dark")

    page = new_page()
    page.goto("/invite/welcome-token/")
    expect(page.get_by_role("heading", name="Grace Hopper invited you")).to_be_visible()
    screenshots(page, "invitation")
    assert_every_control_is_named(page)
    page.get_by_role("link", name="Create your account").click()

    page.get_by_label("Email").fill("new@example.com")
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label(re.compile("Password \\(again\\)|Confirm password", re.I)).fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()

    # Membership waits for a confirmed address: the waitlist screen asks for it, and the
    # mailed link (opened in the same browser) redeems the invitation.
    expect(page).to_have_url(re.compile(r"/waitlist/$"))
    expect(page.locator("[data-email-unverified]")).to_be_visible()
    newbie = User.objects.get(username="newbie")
    assert not newbie.is_member
    key = EmailConfirmationHMAC(EmailAddress.objects.get(user=newbie)).key
    page.goto(f"/accounts/confirm-email/{key}/")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("[data-email-unverified]")).to_have_count(0)
    newbie.refresh_from_db()
    assert newbie.is_member
    assert newbie.invited_by == grace

    # New members land on onboarding: name, photo, topics, people to follow.
    page.goto("/welcome/")
    page.get_by_label("Name people see").fill("New Bee")
    page.locator("[data-name-form]").get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    page.get_by_text("Jazz", exact=True).click()
    page.get_by_role("button", name="Save topics").click()
    expect(page.get_by_role("status").filter(has_text="Topics saved")).to_be_visible()
    page.wait_for_load_state("networkidle")  # saving topics refreshes the suggestions
    suggestions = page.locator("[data-suggestions]")
    expect(suggestions.get_by_text("Nominated you")).to_be_visible()  # Grace, first
    suggestions.get_by_role("button", name="Follow Ada Lovelace").click()
    expect(suggestions.get_by_role("button", name="Following Ada Lovelace")).to_be_visible()
    assert newbie.following_set.filter(followee=ada).exists()
    screenshots(page, "onboarding")
    assert_every_control_is_named(page)

    page.get_by_role("link", name="Go to the hallway →").click()
    room = page.locator("[data-rooms] .room-card", has_text="Engines after dark")
    expect(room).to_be_visible()
    expect(room).to_contain_text("Ada Lovelace")
    expect(page.locator("[data-online]")).to_contain_text("Ada Lovelace")
    screenshots(page, "hallway")
    assert_every_control_is_named(page)
    page.console.assert_clean()

    room.click()
    expect(page).to_have_url(re.compile(r"/rooms/\d+/$"))
