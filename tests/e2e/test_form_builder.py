"""The form builder in a real Chromium: a marketer builds a form with four fields
(reordering one with the keyboard), publishes it; a visitor fills in its hosted page
from a newsletter link; the marketer finds the lead with that attribution."""

import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from capture.models import Form, Lead, Submission
from tests.e2e.browser import log_in
from tests.factories import FormFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def add_field(page, kind: str, label: str) -> None:
    rows = page.get_by_test_id("field-row")
    count = rows.count()
    page.get_by_test_id("new-field-type").select_option(kind)
    page.get_by_test_id("add-field").click()
    expect(rows).to_have_count(count + 1)  # htmx swapped in the list with the new row
    row = rows.nth(count)
    # The new row opens with its label focused, ready to type.
    expect(row.locator("input[name$='-label']")).to_be_focused()
    row.locator("input[name$='-label']").fill(label)


def row_labels(page) -> list[str]:
    return [t.strip() for t in page.locator("[data-summary-label]").all_text_contents()]


def test_a_marketer_builds_and_publishes_a_form_and_a_visitor_becomes_a_lead(
    page, browser, live_server, marketer
):
    log_in(page, marketer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Forms").click()
    page.get_by_role("link", name="New form").first.click()
    page.get_by_label("Name").fill("Spring guide")
    page.get_by_role("button", name="Create form").click()
    expect(page.get_by_test_id("form-name")).to_have_text("Spring guide")
    rows = page.get_by_test_id("field-row")
    expect(rows).to_have_count(1)  # the email field comes with the form

    add_field(page, "text", "First name")
    first_name = rows.nth(1)
    # A new field's name follows its label.
    expect(first_name.locator("input[name$='-name']")).to_have_value("first_name")
    first_name.locator("select[name$='-target']").select_option("first_name")

    add_field(page, "select", "Topic")
    topic = rows.nth(2)
    topic.locator("textarea[name$='-options']").fill("Pricing\nSecurity\nIntegrations")
    topic.locator("select[name$='-target']").select_option("attribute")
    expect(topic.locator("input[name$='-attribute']")).to_be_visible()
    topic.locator("input[name$='-attribute']").fill("topic")

    add_field(page, "text", "Company")
    company = rows.nth(3)
    company.locator("select[name$='-target']").select_option("company")
    company.locator("input[name$='-required']").check()

    # The preview follows the unsaved state.
    preview = page.get_by_test_id("form-preview")
    expect(preview.get_by_label("Topic")).to_be_visible()
    expect(preview.get_by_label("Company")).to_be_visible()

    # Reorder with the keyboard: Company goes above Topic; the focus stays on the button.
    move_up = page.get_by_role("button", name="Move Company up")
    move_up.focus()
    page.keyboard.press("Enter")
    expect(move_up).to_be_focused()
    assert row_labels(page) == ["Email", "First name", "Company", "Topic"]
    expect(page.locator("#builder-status")).to_have_text("Company: position 3 of 4.")
    # …and the preview shows the new order.
    expect(preview.locator("label").nth(2)).to_contain_text("Company")

    page.get_by_label("Thank-you message").fill("Thanks! The guide is on its way.")
    page.get_by_test_id("save-form").click()
    expect(page.get_by_role("alert").filter(has_text="Saved")).to_be_visible()
    form = Form.objects.get()
    assert list(form.fields.order_by("position").values_list("name", "maps_to")) == [
        ("email", "email"), ("first_name", "first_name"), ("company", "company"),
        ("topic", "attributes.topic")]
    assert row_labels(page) == ["Email", "First name", "Company", "Topic"]

    page.get_by_role("link", name="Publish").first.click()
    expect(page.get_by_test_id("warning-draft")).to_be_visible()
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("form-status")).to_have_text(re.compile("Live"))
    expect(page.get_by_test_id("warning-draft")).to_have_count(0)
    hosted_path = urlsplit(page.get_by_test_id("hosted-url").input_value()).path
    assert hosted_path == f"/f/{form.key}/"

    # A visitor, in a browser of their own, arrives from the newsletter.
    visitor = browser.new_context(base_url=live_server.url)
    try:
        visit = visitor.new_page()
        visit.goto(f"{hosted_path}?utm_source=newsletter&utm_campaign=spring")
        shown_at = time.monotonic()
        visit.get_by_label("Email").fill("nora.visitor@example.com")
        visit.get_by_label("First name").fill("Nora")
        visit.get_by_label("Company").fill("Initech")
        visit.get_by_label("Topic").select_option("Security")
        # Posts sooner than the form's min_seconds (3) after it was shown are filed as
        # spam; a person takes longer than Playwright, so wait as a person would.
        time.sleep(max(0.0, form.min_seconds + 0.5 - (time.monotonic() - shown_at)))
        visit.get_by_role("button", name="Submit").click()
        expect(visit.get_by_test_id("thank-you")).to_have_text("Thanks! The guide is on its way.")
    finally:
        visitor.close()

    submission = Submission.objects.get()
    assert (submission.is_spam, submission.channel) == (False, "hosted")

    # The marketer finds the lead, with where it came from.
    page.goto("/leads/")
    page.get_by_label("Search").fill("nora.visitor")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("link", name="Nora").click()
    expect(page.get_by_test_id("lead-name")).to_contain_text("Nora")
    attribution = page.get_by_test_id("attribution")
    expect(attribution.locator("tr", has_text="UTM source")).to_contain_text("newsletter")
    expect(attribution.locator("tr", has_text="UTM campaign")).to_contain_text("spring")
    lead = Lead.objects.get()
    assert (lead.company, lead.attributes) == ("Initech", {"topic": "Security"})


def test_fields_reorder_by_drag_and_drop(page, marketer):
    form = FormFactory(with_fields=True)
    log_in(page, marketer)
    page.goto(f"/forms/{form.pk}/")
    assert row_labels(page) == ["Email", "First name", "Company", "Topic"]

    handles = page.locator(".drag-handle")
    target = page.get_by_test_id("field-row").nth(1)
    handles.nth(3).drag_to(target, target_position={"x": 40, "y": 5})

    expect(page.locator("[data-summary-label]").nth(1)).to_have_text("Topic")
    page.get_by_test_id("save-form").click()
    expect(page.get_by_role("alert").filter(has_text="Saved")).to_be_visible()
    assert list(form.fields.order_by("position").values_list("name", flat=True)) == [
        "email", "topic", "first_name", "company"]
