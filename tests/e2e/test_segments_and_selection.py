"""Saved segments and "Add to sequence…" in a real Chromium: a marketer filters the leads
list, saves the filters as a segment (a typo'd empty name refused beside the input),
opens it again from the segments menu, ticks two of its leads ("select all on this page"
ticks them all, and unticking one leaves the rest) and adds them to an active sequence;
the list says how many were added, and, asked again, why they were skipped."""

import re

import pytest
from playwright.sync_api import expect

from capture.models import Segment
from nurture.models import Enrollment
from nurture.services import enrollment_create
from tests.e2e.browser import log_in
from tests.factories import LeadFactory
from tests.nurture.conftest import make_sequence

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def row(page, name: str):
    return page.get_by_test_id("lead-row").filter(has_text=name)


def test_a_marketer_saves_a_segment_and_adds_two_of_its_leads_to_a_sequence(page, marketer):
    sequence = make_sequence(name="MQL nurture")
    make_sequence(name="Old draft", status="draft")
    ann = LeadFactory(first_name="Ann", last_name="Novak", stage="mql")
    bob = LeadFactory(first_name="Bob", last_name="Stone", stage="mql")
    cy = LeadFactory(first_name="Cy", last_name="Busy", stage="mql")
    LeadFactory(first_name="Dee", last_name="Cold", stage="lead")
    enrollment_create(sequence=sequence, lead=cy)

    log_in(page, marketer)
    page.goto("/leads/")
    expect(page.get_by_test_id("lead-row")).to_have_count(4)
    page.get_by_test_id("filter-stage").click()
    page.get_by_label("MQL", exact=True).check()
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("lead-row")).to_have_count(3)

    # Saving with no name is refused beside the input; the list stays.
    page.get_by_test_id("save-segment").click()
    expect(page.locator("#segment-name-errors")).to_have_text("Give the segment a name.")
    expect(page.get_by_test_id("lead-row")).to_have_count(3)
    page.get_by_label("Save these filters as a segment").fill("Hot MQLs")
    page.get_by_test_id("save-segment").click()
    expect(page.get_by_role("alert").filter(has_text="Saved the segment “Hot MQLs”")
           ).to_be_visible()
    expect(page.get_by_test_id("open-segment")).to_have_text(re.compile("Hot MQLs"))
    segment = Segment.objects.get()
    assert segment.params == {"stage": ["mql"]}

    # Away and back through the segments menu.
    page.goto("/leads/")
    expect(page.get_by_test_id("lead-row")).to_have_count(4)
    page.get_by_test_id("segments-menu").locator("summary").click()
    page.get_by_test_id("segment-link").filter(has_text="Hot MQLs").click()
    expect(page).to_have_url(re.compile(rf"stage=mql.*segment={segment.pk}"))
    expect(page.get_by_test_id("open-segment")).to_have_text(re.compile("Hot MQLs"))
    expect(page.get_by_test_id("lead-row")).to_have_count(3)

    # "Select all on this page", then leave one out: two selected.
    page.get_by_test_id("select-page").check()
    for name in ("Ann Novak", "Bob Stone", "Cy Busy"):
        expect(row(page, name).get_by_test_id("select-lead")).to_be_checked()
    row(page, "Cy Busy").get_by_test_id("select-lead").uncheck()
    expect(page.get_by_test_id("select-page")).not_to_be_checked()
    actions = page.get_by_test_id("lead-actions")
    expect(actions).to_contain_text("The selected leads (2)")
    expect(actions.get_by_label("Add to sequence")).not_to_contain_text("Old draft")
    actions.get_by_label("Add to sequence").select_option(label="MQL nurture")
    page.get_by_test_id("add-to-sequence").click()

    expect(page.get_by_role("alert").filter(has_text="Added 2 leads to “MQL nurture”.")
           ).to_be_visible()
    expect(page.get_by_test_id("open-segment")).to_have_text(re.compile("Hot MQLs"))
    assert set(Enrollment.objects.filter(sequence=sequence).values_list("lead", flat=True)) == {
        ann.pk, bob.pk, cy.pk}

    # All three again: nobody twice, and the list says why.
    page.get_by_test_id("select-page").check()
    actions.get_by_label("Add to sequence").select_option(label="MQL nurture")
    page.get_by_test_id("add-to-sequence").click()
    expect(page.get_by_role("alert").filter(has_text="Added 0 leads")).to_contain_text(
        "Skipped 3: 3 already in it")
    assert Enrollment.objects.filter(sequence=sequence).count() == 3
