"""Send Money in beta, in the browser: a cohort member tips (the "Beta" label) and then sends
feedback from the dialog; a non-member sees no button; a creator switches Send Money off on
their settings page and the button is gone for everyone. The ledger balances after each."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from accounts.models import FeatureFeedback, FeatureFlag
from accounts.services import feature_cohort_add
from payouts.models import CreatorProgram, Tip
from tests.browser.conftest import assert_every_control_is_named
from tests.browser.test_pages import make_creator
from tests.factories import FollowFactory, UserFactory
from tests.payouts.conftest import assert_ledger_balanced


def _beta(*members: Any) -> FeatureFlag:
    """Send Money in beta for `members` only."""
    flag, _ = FeatureFlag.objects.update_or_create(
        key="send_money", defaults={"name": "Send Money", "enabled": True, "everyone": False}
    )
    feature_cohort_add(flag=flag, users=list(members))
    return flag


def test_a_cohort_member_sends_a_tip_and_then_feedback(
    new_page: Any, standin_shared: Any, screenshots: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    me = UserFactory()
    FollowFactory(follower=me, followee=creator)
    _beta(me)
    page = new_page(me)
    page.goto("/u/maker/")
    button = page.get_by_role("button", name="Send money Beta")
    expect(button.locator("[data-beta-label]")).to_have_text("Beta")
    button.click()
    dialog = page.get_by_role("dialog", name="Send money to Mae Maker")
    expect(dialog.locator("[data-beta-note]")).to_contain_text("one of the first to try it")
    dialog.get_by_role("button", name="$5.00").click()
    expect(dialog.locator("[data-charge]")).to_have_text(re.compile(r"\$5\.\d\d"))
    dialog.get_by_role("button", name="Send", exact=True).click()
    expect(dialog.get_by_text("Sent! Mae Maker gets $5.00.")).to_be_visible()
    tip = Tip.objects.get(sender=me)
    assert (tip.creator, tip.amount, tip.status) == (creator, 500, "succeeded")

    # The feedback form comes with the result; the tip goes along without being asked for.
    feedback = dialog.locator("[data-feedback-form]")
    expect(feedback).to_be_visible()
    screenshots(page, "send-money-beta-feedback")
    assert_every_control_is_named(page)
    feedback.get_by_role("button", name="Send feedback").click()
    expect(feedback).to_contain_text("Choose a rating from 1 to 5.")
    feedback.get_by_label("4").check()
    feedback.get_by_label("Anything to tell us? (optional)").fill("Quick! Show the fee earlier.")
    feedback.get_by_role("button", name="Send feedback").click()
    expect(dialog.locator("[data-feedback-sent]")).to_have_text(re.compile("Thank you"))
    saved = FeatureFeedback.objects.get(user=me)
    assert (saved.rating, saved.text, saved.status) == (4, "Quick! Show the fee earlier.", "new")
    assert (saved.context["tip"], saved.context["step"]) == (str(tip.uuid), "done")
    page.console.assert_clean()
    assert_ledger_balanced()


def test_a_failed_payment_offers_feedback_with_the_failed_step(
    new_page: Any, standin_shared: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    me = UserFactory()
    FollowFactory(follower=me, followee=creator)
    _beta(me)
    page = new_page(me)
    page.goto("/u/maker/")
    page.get_by_role("button", name="Send money Beta").click()
    dialog = page.get_by_role("dialog", name="Send money to Mae Maker")
    dialog.get_by_label("Amount (USD)").fill("2")
    dialog.get_by_label(re.compile("declined")).check()
    dialog.get_by_role("button", name="Send", exact=True).click()
    feedback = dialog.locator("[data-feedback-form]")
    expect(feedback).to_be_visible()
    feedback.get_by_label("1").check()
    feedback.get_by_role("button", name="Send feedback").click()
    expect(dialog.locator("[data-feedback-sent]")).to_be_visible()
    context = FeatureFeedback.objects.get(user=me).context
    assert context["step"] == "payment"
    assert context["error_code"]  # the decline code the page showed
    assert_ledger_balanced()


def test_a_non_member_sees_no_send_money_button(new_page: Any, standin_shared: Any) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    member, outsider = UserFactory(), UserFactory()
    for person in (member, outsider):
        FollowFactory(follower=person, followee=creator)
    _beta(member)
    page = new_page(outsider)
    page.goto("/u/maker/")
    expect(page.get_by_role("button", name=re.compile("Following"))).to_be_visible()
    expect(page.locator("[data-send-money]")).to_have_count(0)
    page.console.assert_clean()
    assert_ledger_balanced()


def test_a_creator_switches_send_money_off_and_the_button_goes_for_everyone(
    new_page: Any, standin_shared: Any, screenshots: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    fan = UserFactory()
    FollowFactory(follower=fan, followee=creator)
    listener = new_page(fan)  # a second browser context
    listener.goto("/u/maker/")
    expect(listener.get_by_role("button", name="Send money")).to_be_visible()

    settings = new_page(creator)
    settings.goto("/settings/")
    switch = settings.get_by_label("Let listeners send me money")
    expect(switch).to_be_checked()
    expect(settings.locator("[data-send-money-status]")).to_have_text(
        "Listeners can send you money now."
    )
    screenshots(settings, "settings-send-money")
    assert_every_control_is_named(settings)
    switch.uncheck()
    expect(settings.locator("[data-send-money-status]")).to_have_text(
        "Listeners cannot send you money right now."
    )
    assert CreatorProgram.objects.get(user=creator).creator_send_money_on is False

    listener.reload()
    expect(listener.get_by_role("button", name=re.compile("Following"))).to_be_visible()
    expect(listener.locator("[data-send-money]")).to_have_count(0)
    anonymous = new_page()
    anonymous.goto("/u/maker/")
    expect(anonymous.get_by_role("heading", name="Mae Maker")).to_be_visible()
    expect(anonymous.locator("[data-send-money]")).to_have_count(0)

    # On again after a reload of the settings page: the switch remembers.
    settings.reload()
    expect(settings.get_by_label("Let listeners send me money")).not_to_be_checked()
    settings.get_by_label("Let listeners send me money").check()
    expect(settings.locator("[data-send-money-status]")).to_have_text(
        "Listeners can send you money now."
    )
    listener.reload()
    expect(listener.get_by_role("button", name="Send money")).to_be_visible()
    for page in (listener, settings, anonymous):
        page.console.assert_clean()
    assert_ledger_balanced()


def test_staff_forcing_send_money_off_is_explained_on_the_settings_page(
    new_page: Any, standin_shared: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    CreatorProgram.objects.filter(user=creator).update(send_money_enabled=False)
    settings = new_page(creator)
    settings.goto("/settings/")
    expect(settings.locator("[data-staff-off]")).to_contain_text("turned off for your account")
    expect(settings.locator("[data-send-money-status]")).to_have_text(
        "Listeners cannot send you money right now."
    )
    settings.console.assert_clean()
