"""The sequence editor in a real Chromium: a marketer builds a two-step sequence triggered
by a form (reordering with the keyboard's move buttons, fixing a broken merge field the
server refused), saves it, and sees it in the list with its trigger. Then a visitor
submits the form, the dispatcher runs, the first email arrives at a real SMTP server and
the lead's timeline shows it."""

import pytest
from playwright.sync_api import expect

from capture.models import Lead
from capture.services.pages import page_create
from nurture.models import Sequence
from nurture.services import dispatch_run, sequence_create
from tests.e2e.browser import log_in
from tests.factories import FormFactory, FormFieldFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _public(settings, live_server):
    settings.PUBLIC_URL = live_server.url


@pytest.fixture
def signup_form():
    form = FormFactory(name="Ebook signup", min_seconds=0)
    FormFieldFactory(form=form, name="first_name", maps_to="first_name", label="First name",
                     position=1)
    FormFactory(name="Other form")
    page_create(slug="ebook", title="The ebook", status="live",
                variant={"headline": "Get the ebook", "body_markdown": "Read it.",
                         "form": form})
    return form


def test_a_marketer_builds_a_sequence_and_a_visitor_gets_its_first_email(
    page, live_server, marketer, signup_form, smtp_server
):
    log_in(page, marketer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Nurture").click()
    expect(page.get_by_role("heading", name="Sequences")).to_be_visible()
    page.get_by_test_id("new-sequence").click()
    expect(page.get_by_test_id("editor-title")).to_have_text("New sequence")

    page.locator("#id_name").fill("Ebook follow-up")
    page.get_by_label("Status").select_option("active")

    # A trigger: the form, picked from the list (only the form picker shows for it).
    page.get_by_test_id("add-trigger").click()
    trigger = page.get_by_test_id("trigger-row")
    expect(trigger).to_have_count(1)
    expect(trigger.get_by_label("When")).to_be_focused()
    expect(trigger.get_by_label("Event name")).to_be_hidden()
    trigger.get_by_label("Form", exact=True).select_option(label="Ebook signup")

    steps = page.get_by_test_id("step-row")
    expect(steps).to_have_count(1)
    steps.nth(0).get_by_label("Subject").fill("Your ebook, {{ first_name.upper }}")
    steps.nth(0).get_by_label("Body").fill(
        "Hi {{ first_name|default:\"there\" }}, here is [the ebook](https://example.com/e).")

    # A second step: typed values of the first survive the round trip.
    page.get_by_test_id("add-step").click()
    expect(steps).to_have_count(2)
    expect(steps.nth(1).get_by_label("Subject")).to_be_focused()
    expect(steps.nth(0).get_by_label("Subject")).to_have_value(
        "Your ebook, {{ first_name.upper }}")
    steps.nth(1).get_by_label("Subject").fill("Did you read it?")
    steps.nth(1).get_by_label("Body").fill("Tell us what you think.")
    steps.nth(1).get_by_label("Wait").fill("3")

    # Reorder with the keyboard: move step 2 up, then back down again.
    steps.nth(1).get_by_role("button", name="Move step 2 up").focus()
    page.keyboard.press("Enter")
    expect(steps.nth(0).get_by_label("Subject")).to_have_value("Did you read it?")
    expect(page.get_by_role("button", name="Move step 1 up")).to_be_focused()
    page.get_by_role("button", name="Move step 1 down").click()
    expect(steps.nth(0).get_by_label("Subject")).to_have_value(
        "Your ebook, {{ first_name.upper }}")

    # The server refuses the method call in the subject, beside the input; nothing saved.
    page.get_by_test_id("save-sequence").click()
    expect(page.get_by_test_id("editor-errors")).to_be_visible()
    expect(steps.nth(0)).to_contain_text("attributes and methods")
    expect(steps.nth(0).get_by_label("Subject")).to_be_focused()
    assert not Sequence.objects.exists()
    expect(steps.nth(1).get_by_label("Subject")).to_have_value("Did you read it?")

    steps.nth(0).get_by_label("Subject").fill("Your ebook, {{ first_name|default:\"friend\" }}")
    # Preview with a sample (the marketer's own name), without saving.
    steps.nth(0).get_by_test_id("preview-step").click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Your ebook, Mia")
    page.get_by_test_id("save-sequence").click()
    expect(page.get_by_role("alert").filter(has_text="Saved “Ebook follow-up”")).to_be_visible()

    sequence = Sequence.objects.get()
    assert [s.delay_minutes for s in sequence.steps.order_by("position")] == [0, 3 * 24 * 60]

    page.get_by_role("link", name="Sequences", exact=True).first.click()
    row = page.get_by_test_id("sequence-row").filter(has_text="Ebook follow-up")
    expect(row.get_by_test_id("sequence-triggers")).to_have_text("Form “Ebook signup” submitted")
    expect(row.get_by_test_id("sequence-status")).to_have_text("Active")

    # A visitor submits the form; the lead is enrolled; the dispatcher sends step 1.
    visitor = page.context.browser.new_page(base_url=live_server.url)
    visitor.goto("/p/ebook/")
    visitor.get_by_label("Email").fill("nora@acme.example")
    visitor.get_by_label("First name").fill("Nora")
    visitor.get_by_role("button", name="Submit").click()
    expect(visitor.get_by_test_id("thank-you")).to_be_visible()
    visitor.close()

    lead = Lead.objects.get(email="nora@acme.example")
    result = dispatch_run(seconds=5)
    assert result.sent == 1, result
    [message] = smtp_server.messages
    assert message["To"] == "nora@acme.example"
    assert message["Subject"] == "Your ebook, Nora"

    page.goto(f"/leads/{lead.pk}/")
    card = page.get_by_test_id("lead-sequences")
    expect(card).to_contain_text("Ebook follow-up")
    expect(card).to_contain_text("Step 2 due")
    sent = page.get_by_test_id("timeline").locator("[data-kind=email_sent]")
    expect(sent).to_have_count(1)
    expect(sent).to_contain_text("Your ebook, Nora")

    # Removed by hand from the lead page (a POST with the CSRF token, back to the page).
    card.get_by_test_id("lead-sequence-remove").click()
    expect(page.get_by_role("alert").filter(has_text="Removed nora@acme.example")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/leads/{lead.pk}/")
    expect(card).to_contain_text("Left: removed by hand")
    assert lead.enrollments.get().state == "exited"


def test_steps_are_reordered_by_dragging(page, live_server, marketer):
    sequence = sequence_create(name="Drag me", status="active",
                               steps=[{"subject": "First", "body": "1"},
                                      {"subject": "Second", "body": "2"}])
    log_in(page, marketer)
    page.goto(f"/nurture/{sequence.pk}/")
    steps = page.get_by_test_id("step-row")
    # Both rows on screen: a drag is a mouse gesture between two visible points.
    page.set_viewport_size({"width": 1400, "height": 2000})
    steps.nth(1).locator(".step-handle").drag_to(steps.nth(0),
                                                  target_position={"x": 40, "y": 5})
    expect(steps.nth(0).get_by_label("Subject")).to_have_value("Second")
    expect(steps.nth(0).locator("[data-step-number]")).to_have_text("1")
    page.get_by_test_id("save-sequence").click()
    expect(page.get_by_role("alert").filter(has_text="Saved “Drag me”")).to_be_visible()
    assert list(sequence.steps.order_by("position").values_list("subject", flat=True)) == [
        "Second", "First"]
