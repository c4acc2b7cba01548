"""Scoring rules in a real Chromium: a marketer adds a behaviour rule with a condition,
sees its impact before saving, tests it against a lead, saves it, watches the rescore
finish, and the lead page's breakdown shows what the rule gave."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scoring.models import Rule
from tests.e2e.browser import log_in
from tests.factories import ActivityFactory, LeadFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lead():
    lead = LeadFactory(email="nora@acme.example", first_name="Nora", last_name="North")
    start = timezone.now() - timedelta(days=3)
    for i, path in enumerate(["/pricing", "/blog/x", "/pricing?plan=pro"]):
        ActivityFactory(lead=lead, data={"url": f"https://www.example.com{path}"},
                        occurred_at=start + timedelta(hours=i))
    LeadFactory(email="quiet@acme.example")
    return lead


def test_a_marketer_adds_a_rule_previews_its_impact_and_the_lead_page_explains_it(
    page, live_server, marketer, lead
):
    log_in(page, marketer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Scoring").click()
    expect(page.get_by_role("heading", name="Scoring rules")).to_be_visible()
    page.get_by_test_id("new-behavior-rule").click()
    expect(page.get_by_test_id("editor-title")).to_contain_text("New behaviour rule")

    page.locator("#id_name").fill("Pricing page")
    page.locator("#id_points").fill("10")
    page.locator("#id_expires_after_days").fill("30")
    rows = page.get_by_test_id("condition-row")
    expect(rows).to_have_count(1)
    rows.nth(0).get_by_test_id("condition-field").fill("url")
    # Only the operators a URL takes are offered.
    expect(rows.nth(0).locator("option[value=gt]")).to_be_disabled()
    expect(rows.nth(0).locator("option[value=contains]")).to_be_enabled()
    rows.nth(0).get_by_test_id("condition-op").select_option("contains")
    rows.nth(0).get_by_test_id("condition-value").fill("/pricing")

    # A second condition, added and removed again (htmx swaps only the conditions).
    page.get_by_test_id("add-condition").click()
    expect(rows).to_have_count(2)
    expect(rows.nth(1).get_by_test_id("condition-field")).to_be_focused()
    expect(rows.nth(0).get_by_test_id("condition-value")).to_have_value("/pricing")
    rows.nth(1).get_by_role("button", name="Remove condition 2").click()
    expect(rows).to_have_count(1)

    # The impact, before anything is saved: Nora's score goes up (two pricing views).
    page.get_by_test_id("preview-impact").click()
    impact = page.get_by_test_id("impact")
    expect(impact.get_by_test_id("impact-changed")).to_have_text("1")
    expect(impact).to_contain_text("of 2 leads would change score")
    expect(impact.get_by_test_id("impact-up")).to_have_text("1")
    assert not Rule.objects.exists()

    # Test against a lead.
    page.get_by_test_id("test-lead").fill("nora@acme.example")
    page.get_by_test_id("test-rule").click()
    result = page.get_by_test_id("test-result")
    expect(result.get_by_test_id("test-points")).to_have_text("+20")
    expect(result.get_by_test_id("test-score-then")).to_have_text("20")
    expect(result.get_by_test_id("test-lines").locator("tbody tr")).to_have_count(2)

    # Editing after a preview marks it stale until it is run again.
    page.locator("#id_points").fill("10")
    expect(impact.locator("[data-stale]")).to_be_visible()
    page.get_by_test_id("preview-impact").click()
    expect(impact.locator("[data-stale]")).to_have_count(0)
    expect(impact.get_by_test_id("impact-changed")).to_have_text("1")

    page.get_by_test_id("save-rule").click()
    expect(page.get_by_role("alert").filter(has_text="Saved “Pricing page”")).to_be_visible()
    row = page.get_by_test_id("rule-row").filter(has_text="Pricing page")
    expect(row).to_contain_text("url contains /pricing")
    expect(row).to_contain_text("expires after 30 d")
    # The rescore ran (tasks run eagerly in the tests): the status says so.
    expect(page.get_by_test_id("rescore-status")).to_contain_text("Scores are up to date")

    page.goto(f"/leads/{lead.pk}/")
    breakdown = page.get_by_test_id("score-breakdown")
    expect(breakdown.get_by_test_id("breakdown-score")).to_have_text("20")
    rule_line = breakdown.get_by_test_id("breakdown-rule").filter(has_text="Pricing page")
    expect(rule_line.get_by_test_id("breakdown-rule-points")).to_have_text("+20")
    rule_line.locator("summary").click()
    expect(rule_line.locator("tbody tr")).to_have_count(2)
    expires = (timezone.now() + timedelta(days=27)).strftime("%b")
    expect(rule_line.locator("tbody tr").first).to_contain_text(re.compile(expires))
