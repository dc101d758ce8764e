"""A curator reviews a creator application in the back office and approves it with a stipend;
the creator, in their own browser, sees it on their creator program page and in the API."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from accounts.models import Follow
from payouts import services
from payouts.models import CreatorProgram
from payouts.services.programs import month_after, month_of
from tests.browser.conftest import assert_every_control_is_named
from tests.factories import UserFactory


def test_a_curator_approves_an_applicant_with_a_stipend_and_the_creator_sees_it(
    new_page: Any, screenshots: Any
) -> None:
    curator = UserFactory(staff=True, username="curator")
    applicant = UserFactory(username="jazzcat", display_name="Jazz Cat",
                            bio="Late-night jazz sets, every Friday.")  # fmt: skip
    Follow.objects.create(follower=UserFactory(), followee=applicant)
    application = services.creator_apply(user=applicant, pitch="Weekly jazz room")
    first = month_after(month_of())

    creator_page = new_page(applicant)
    creator_page.goto("/creator/apply/")
    expect(creator_page.get_by_text("Your application is waiting for review.")).to_be_visible()

    # The curator opens the application: who the applicant is, and the decision buttons.
    admin = new_page(curator)
    admin.goto(f"/admin/payouts/creatorapplication/{application.pk}/change/")
    expect(admin.get_by_text("Late-night jazz sets, every Friday.")).to_be_visible()
    figures = admin.get_by_role("table", name="Figures")
    expect(figures.get_by_role("row", name=re.compile("Followers"))).to_contain_text("1")
    expect(figures.get_by_role("row", name=re.compile("Listeners reached"))).to_be_visible()
    screenshots(admin, "curation-application")
    admin.get_by_role("link", name="Approve…").click()

    # Terms that are not valid are explained beside the field; nothing is decided.
    admin.get_by_label("Stipend a month").fill("750.00")
    admin.get_by_label("Currency").select_option("USD")
    admin.get_by_label("First month").fill(f"{first:%Y-%m}")
    admin.get_by_label("Last month").fill(f"{month_of():%Y-%m}")
    admin.get_by_role("button", name="Approve").click()
    expect(admin.get_by_text("The last month cannot be before the first month.")).to_be_visible()
    assert not CreatorProgram.objects.filter(user=applicant).exists()
    assert_every_control_is_named(admin)

    admin.get_by_label("Last month").fill("")
    admin.get_by_role("button", name="Approve").click()
    expect(admin.get_by_text(re.compile("jazzcat is a creator", re.IGNORECASE))).to_be_visible()
    expect(admin.get_by_text(re.compile(r"approved.*\(pending → approved\)"))).to_be_visible()
    program = CreatorProgram.objects.get(user=applicant)
    assert (program.stipend_amount, program.stipend_currency) == (75_000, "USD")
    assert (program.stipend_start_month, program.stipend_end_month) == (first, None)

    # The creator sees it on their page (after a reload) and in the API.
    creator_page.reload()
    expect(creator_page.get_by_text("You're in the creator program.")).to_be_visible()
    expect(creator_page.locator("[data-stipend]")).to_have_text(
        f"Stipend: $750.00 a month from {first:%Y-%m} until further notice."
    )
    status = creator_page.request.get("/api/v1/payouts/creator-application/").json()
    assert status["application"]["status"] == "approved"
    assert status["program"]["stipend_amount"] == 75_000
    assert status["program"]["stipend_start_month"] == f"{first:%Y-%m}"
    creator_page.goto("/notifications/")
    expect(
        creator_page.get_by_text(re.compile(r"You're in the creator program!.*\$750\.00"))
    ).to_be_visible()
    creator_page.console.assert_clean()
    admin.console.assert_clean(allow=("status of 404",))  # Django admin asks for /favicon.ico
