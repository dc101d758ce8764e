"""The shell every page shares: header, navigation, notifications badge, user menu."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.factories import NotificationFactory, UserFactory


def test_member_sees_hallway_with_unread_badge_and_user_menu(
    new_page: Any, screenshots: Any
) -> None:
    user = UserFactory(username="ada", display_name="Ada Lovelace")
    NotificationFactory(recipient=user)
    page = new_page(user)
    page.goto("/")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.locator("[data-unread]")).to_have_text("1")
    page.get_by_label("Your account menu").click()
    expect(page.get_by_role("menuitem", name="Your profile")).to_be_visible()
    page.console.assert_clean()


def test_visitor_is_sent_to_login_from_member_pages(page: Any) -> None:
    page.goto("/events/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=(/|%2F)events(/|%2F)"))
