"""The leads pages in a real Chromium: sign in, find a lead, read its timeline (including
htmx "load more"), and create a lead by hand."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from capture.models import Lead
from capture.services import activity_record, lead_create
from pipeline.services import lead_change_stage
from tests.e2e.browser import log_in
from tests.factories import LeadFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_rep_finds_a_lead_and_reads_its_timeline(page, rep, marketer):
    ann = lead_create(actor=marketer, email="ann.novak@example.com", first_name="Ann",
                      last_name="Novak", company="Acme")
    start = timezone.now() - timedelta(days=3)
    for i in range(27):
        activity_record(lead=ann, kind="page_viewed", occurred_at=start + timedelta(minutes=i),
                        data={"url": f"https://www.example.com/docs/{i}"})
    lead_change_stage(lead=ann, to_stage="mql", by_system="scoring", reason="Score passed 80")
    LeadFactory.create_batch(3, company="Globex")

    log_in(page, rep)
    # Not exact: base.html's nav icons are not aria-hidden, so their glyph is in the name.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Leads").click()
    expect(page).to_have_url(re.compile(r"/leads/$"))
    expect(page.get_by_test_id("lead-row")).to_have_count(4)

    page.get_by_label("Search").fill("novak")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"q=novak"))
    expect(page.get_by_test_id("lead-row")).to_have_count(1)

    page.get_by_role("link", name="Ann Novak").click()
    expect(page.get_by_test_id("lead-name")).to_have_text("Ann Novak")
    entries = page.get_by_test_id("activity")
    expect(entries).to_have_count(25)
    expect(entries.first).to_contain_text("Stage changed")
    expect(entries.first).to_contain_text("Score passed 80")
    expect(entries.nth(1)).to_contain_text("Lead created")

    # htmx appends the older entries in place (29 activities: created, 27 views, stage).
    page.get_by_test_id("load-more").click()
    expect(entries).to_have_count(29)
    expect(entries.last).to_contain_text("https://www.example.com/docs/0")  # the oldest
    expect(page.get_by_test_id("load-more")).to_have_count(0)
    expect(page).to_have_url(re.compile(rf"/leads/{ann.pk}/$"))


def test_a_user_creates_a_lead_and_lands_on_its_page(page, marketer):
    log_in(page, marketer)
    page.goto("/leads/")
    page.get_by_role("link", name="New lead").first.click()  # header button (also in empty state)
    expect(page).to_have_url(re.compile(r"/leads/new/$"))

    page.fill("#id_email", "  Nina.New@Example.com ")
    page.fill("#id_first_name", "Nina")
    page.fill("#id_last_name", "New")
    page.fill("#id_company", "Initech")
    page.fill("#id_attributes", '{"plan": "pro"}')
    page.get_by_role("button", name="Create lead").click()

    expect(page.get_by_test_id("lead-name")).to_have_text("Nina New")
    lead = Lead.objects.get()
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))
    expect(page.get_by_role("alert")).to_contain_text("created")
    expect(page.get_by_test_id("activity").first).to_contain_text("Lead created")
    assert lead.email == "Nina.New@Example.com"
    assert lead.attributes == {"plan": "pro"}


def test_a_rep_edits_contact_fields_in_place_on_the_lead_page(page, rep):
    lead = LeadFactory(first_name="Ivy", last_name="Inline", job_title="Engineer",
                       email="ivy@example.com")
    taken = LeadFactory(email="taken@example.com")
    log_in(page, rep)
    page.goto(f"/leads/{lead.pk}/")

    page.get_by_test_id("contact-edit").click()
    form = page.get_by_test_id("contact-form")
    expect(form).to_be_visible()
    form.get_by_label("Job title").fill("VP Engineering")
    form.get_by_label("Last name").fill("Inlined")
    form.get_by_label("Email").fill(taken.email.upper())
    form.get_by_role("button", name="Save").click()
    # The duplicate email comes back beside its field, the typed values kept; no reload.
    expect(form.locator(".invalid-feedback")).to_contain_text("already exists")
    expect(form.get_by_label("Job title")).to_have_value("VP Engineering")

    form.get_by_label("Email").fill("ivy@example.com")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("contact-saved")).to_be_visible()
    expect(page.locator("#lead-contact")).to_contain_text("VP Engineering")
    expect(page.get_by_test_id("lead-name")).to_have_text("Ivy Inlined")

    page.reload()
    expect(page.locator("#lead-contact")).to_contain_text("VP Engineering")
    expect(page.get_by_test_id("activity").first).to_contain_text("Lead updated")
