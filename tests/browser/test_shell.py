"""The shell every page shares: header, navigation, notifications badge, user menu."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from accounts.models import WaitlistVouch
from tests.browser.conftest import assert_every_control_is_named
from tests.factories import PASSWORD, NotificationFactory, UserFactory, WaitlistedUserFactory


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


def test_log_in_with_email_and_password(page: Any) -> None:
    UserFactory(username="ada", email="ada@example.com")
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hallway")).to_be_visible()
    page.console.assert_clean()


def test_wrong_password_is_a_form_error(page: Any) -> None:
    UserFactory(email="ada@example.com")
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("not-it")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not correct")


def test_waitlisted_person_sees_the_waitlist_and_names_a_member(
    new_page: Any, screenshots: Any
) -> None:
    UserFactory(username="grace")
    waiting = WaitlistedUserFactory()
    page = new_page(waiting)
    page.goto("/")
    expect(page.get_by_role("heading", name="You're on the waitlist")).to_be_visible()
    page.get_by_label("Username").fill("grace")
    page.get_by_role("button", name="Let them know I'm waiting").click()
    expect(page.get_by_text("We told @grace you are waiting.")).to_be_visible()
    assert WaitlistVouch.objects.filter(requester=waiting, member__username="grace").exists()
    screenshots(page, "waitlist")
    page.console.assert_clean()


def test_the_accessible_name_check_catches_an_unlabelled_field(page: Any) -> None:
    page.set_content('<label for="a">Name</label><input id="a"><input id="b"><button></button>')
    with pytest.raises(AssertionError, match='id="b"'):
        assert_every_control_is_named(page)


def test_a_form_saved_before_the_pages_script_has_loaded_is_not_lost(new_page: Any) -> None:
    """On a slow connection the page is shown before its module has run: a name typed and
    saved then must not be thrown away by a native submit (which reloaded the page with the
    name in the URL and an empty field). The save waits and goes through once the module runs."""
    person = UserFactory(username="quick", display_name="")
    page = new_page(person)
    held: list[Any] = []
    page.route("**/js/pages/onboarding.js", lambda route: held.append(route))
    page.goto("/welcome/", wait_until="commit")
    page.get_by_label("Name people see").fill("Quick Typist")
    page.locator("[data-name-form]").get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/welcome/$"))  # no native GET with the name in it
    assert held, "the page's module was not requested"
    held[0].continue_()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(page.get_by_label("Name people see")).to_have_value("Quick Typist")
    person.refresh_from_db()
    assert person.display_name == "Quick Typist"
    page.console.assert_clean()
