"""The funnel dashboard in a real Chromium: a marketer opens it from the navigation bar,
sees the figures and the weekly chart drawn by Chart.js, and narrows it to one source."""

import pytest
from playwright.sync_api import expect

from capture.models import Stage
from pipeline.services import lead_change_stage
from tests.e2e.browser import log_in
from tests.factories import LeadFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_marketer_opens_the_dashboard_from_the_nav_and_reads_the_funnel(page, marketer):
    for n in range(3):
        lead = LeadFactory(source="google", first_name=f"G{n}")
        lead_change_stage(lead=lead, to_stage=Stage.MQL, by_system="scoring")
        if n == 0:
            lead_change_stage(lead=lead, to_stage=Stage.SQL, by_system="test")
    LeadFactory(source="linkedin")

    log_in(page, marketer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url("/dashboard/")
    expect(page.get_by_role("heading", name="Funnel dashboard")).to_be_visible()
    expect(page.get_by_test_id("kpi-new")).to_have_text("4")
    expect(page.get_by_test_id("kpi-mql")).to_have_text("3")
    funnel = page.get_by_test_id("funnel-table")
    expect(funnel.locator("tr[data-stage='mql'] [data-cell='reached']")).to_have_text("3")
    expect(funnel.locator("tr[data-stage='sql'] [data-cell='conversion']")).to_have_text("33.3 %")
    expect(page.get_by_test_id("sources-table").locator("tr[data-source='google']")
           ).to_contain_text("33.3 %")

    chart = page.get_by_test_id("trend-chart")
    expect(chart).to_be_visible()
    page.wait_for_function(
        "() => window.Chart && window.Chart.getChart(document.getElementById('trend-chart'))")
    assert page.evaluate(
        "() => window.Chart.getChart(document.getElementById('trend-chart'))"
        ".data.datasets.map(d => d.data.reduce((a, b) => a + b, 0))") == [4, 3, 1]

    # The custom dates show only for a custom period; filters stay in the URL.
    expect(page.get_by_label("From", exact=True)).to_be_hidden()
    page.get_by_label("Period", exact=True).select_option("custom")
    expect(page.get_by_label("From", exact=True)).to_be_visible()
    page.get_by_label("Period", exact=True).select_option("30d")
    page.get_by_label("Source", exact=True).select_option("linkedin")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("kpi-new")).to_have_text("1")
    assert "source=linkedin" in page.url
    expect(page.get_by_test_id("csv-funnel")).to_have_attribute(
        "href", "?period=30d&start=&end=&source=linkedin&form=&owner=&export=funnel")
