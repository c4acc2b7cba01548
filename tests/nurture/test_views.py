"""nurture's pages for marketers: the sequences list, the editor (with preview and test
send), enrollments, sending settings, the suppression list and the lead page's card."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from capture.models import Stage
from nurture.models import (
    EmailMessage,
    Enrollment,
    EnrollmentState,
    MessageStatus,
    SendingSettings,
    Sequence,
    Suppression,
)
from nurture.services import dispatch_batch, enrollment_create, sequence_create, suppression_add
from nurture.services.ui_actions import TEST_HEADER
from tests.factories import FormFactory, LeadFactory

pytestmark = pytest.mark.django_db

INDEX = reverse("nurture:index")
NEW = reverse("nurture:new")


def make_sequence(*, steps=None, **values) -> Sequence:
    values.setdefault("name", "Welcome")
    values.setdefault("status", "active")
    if steps is None:
        steps = [{"subject": "Hi {{ first_name }}", "body": "Hello.", "delay_minutes": 0}]
    return sequence_create(steps=steps, **values)


def editor_data(*, steps=(), triggers=(), action="save", **settings) -> dict:
    data = {"name": "Welcome", "status": "active", "reenrollment": "never",
            "exit_on_stage": "sql", "goal_kind": "", "tracking": "on", "_action": action,
            **settings}
    data.update({"triggers-TOTAL_FORMS": len(triggers), "triggers-INITIAL_FORMS": 0,
                 "steps-TOTAL_FORMS": len(steps), "steps-INITIAL_FORMS": 0})
    for i, trigger in enumerate(triggers):
        data.update({f"triggers-{i}-{k}": v for k, v in trigger.items()})
        data.setdefault(f"triggers-{i}-position", i)
    for i, step in enumerate(steps):
        row = {"subject": "Hello", "preheader": "", "body": "Hi {{ first_name }}",
               "delay_value": 0, "delay_unit": "days", "position": i, **step}
        data.update({f"steps-{i}-{key}": value for key, value in row.items()})
    return data


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


# --- The list -------------------------------------------------------------------------------


def test_it_lists_sequences_with_their_figures_in_a_fixed_number_of_queries(marketer_client):
    form = FormFactory(name="Ebook")
    for n in range(3):
        sequence = make_sequence(name=f"Seq {n}", triggers=[{"type": "form_submitted",
                                                             "form": form.pk}])
        leads = [LeadFactory() for _ in range(2)]
        for lead in leads:
            enrollment_create(sequence=sequence, lead=lead)
    sequence = Sequence.objects.get(name="Seq 0")
    enrollment = sequence.enrollments.first()
    EmailMessage.objects.create(enrollment=enrollment, step=sequence.steps.first(),
                                sequence=sequence, lead=enrollment.lead,
                                to_email=enrollment.lead.email, status=MessageStatus.SENT,
                                opened_at=timezone.now())
    type(enrollment.lead).objects.filter(pk=enrollment.lead_id).update(stage=Stage.SQL)

    marketer_client.get(INDEX)  # the user's permissions cached (leadhub.auth), as after
    with CaptureQueriesContext(connection) as few:  # any first request
        response = marketer_client.get(INDEX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Form “Ebook” submitted" in html
    rows = response.context["page_obj"].object_list
    seq0 = next(s for s in rows if s.name == "Seq 0")
    assert seq0.figures["enrolled"] == 2 and seq0.figures["active"] == 2
    assert seq0.figures["sent"] == 1 and seq0.figures["open_rate"] == "100.0 %"
    assert seq0.figures["click_rate"] == "0.0 %" and seq0.figures["became_sql"] == 1

    for n in range(3, 8):
        make_sequence(name=f"Seq {n}", triggers=[{"type": "custom_event", "event": "x"}])
    with CaptureQueriesContext(connection) as more:
        marketer_client.get(INDEX)
    assert len(more) == len(few)


def test_it_searches_by_name_and_paginates(marketer_client):
    for n in range(30):
        make_sequence(name=f"Drip {n}")
    make_sequence(name="Onboarding")
    response = marketer_client.get(INDEX, {"q": "onboard"})
    assert [s.name for s in response.context["page_obj"].object_list] == ["Onboarding"]
    response = marketer_client.get(INDEX, {"page": 2})
    assert len(response.context["page_obj"].object_list) == 6


def test_it_escapes_names_and_subjects(marketer_client):
    sequence = make_sequence(name="<script>alert(1)</script>",
                             steps=[{"subject": "<script>x()</script>", "body": "Hi"}])
    for url in (INDEX, reverse("nurture:edit", args=[sequence.pk]),
                reverse("nurture:enrollments", args=[sequence.pk])):
        html = marketer_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "<script>x()</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- The editor -----------------------------------------------------------------------------


def test_it_creates_a_sequence_with_triggers_and_steps(marketer_client):
    form = FormFactory()
    data = editor_data(
        triggers=[{"type": "form_submitted", "form": form.pk},
                  {"type": "custom_event", "event": "trial_started"}],
        steps=[{"subject": "Hi {{ first_name|default:\"there\" }}", "delay_value": 0},
               {"subject": "Second", "delay_value": 3, "delay_unit": "hours",
                "send_days": ["0", "2"], "send_hour_start": "9", "send_hour_end": "17"}],
    )
    response = marketer_client.post(NEW, data)
    sequence = Sequence.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("nurture:edit", args=[sequence.pk])
    assert sequence.status == "active" and sequence.tracking
    triggers = list(sequence.triggers.all())
    assert [(t.type, t.form_id, t.params) for t in triggers] == [
        ("form_submitted", form.pk, {}), ("custom_event", None, {"event": "trial_started"})]
    steps = list(sequence.steps.order_by("position"))
    assert [s.delay_minutes for s in steps] == [0, 180]
    assert steps[1].send_days == [0, 2]
    assert (steps[1].send_hour_start, steps[1].send_hour_end) == (9, 17)


def test_the_editor_reads_the_form_picker_once_whatever_the_number_of_triggers(
    marketer_client
):
    forms = [FormFactory() for _ in range(3)]
    few = make_sequence(name="Few", triggers=[{"type": "form_submitted", "form": forms[0].pk}])
    many = make_sequence(name="Many", triggers=[
        {"type": "form_submitted", "form": f.pk} for f in forms * 3])
    counts = []
    marketer_client.get(INDEX)  # the user's permissions cached (leadhub.auth)
    for sequence in (few, many):
        with CaptureQueriesContext(connection) as queries:
            response = marketer_client.get(reverse("nurture:edit", args=[sequence.pk]))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    html = response.content.decode()
    assert html.count(f'<option value="{forms[2].pk}" selected>') == 3


def test_a_broken_template_is_refused_per_step_and_nothing_is_written(marketer_client):
    data = editor_data(name="Broken", steps=[
        {"subject": "Fine"},
        {"subject": "Hi {{ settings.SECRET_KEY }}", "body": "{% load static %}x"},
    ], triggers=[{"type": "custom_event", "event": ""}])
    data["steps-1-delay_value"] = "-3"
    response = marketer_client.post(NEW, data)
    assert response.status_code == 400
    assert not Sequence.objects.exists()
    rows = response.context["step_rows"]
    assert not rows[0].errors
    assert "attributes and methods" in str(rows[1].errors["subject"])
    assert "not allowed in emails" in str(rows[1].errors["body"])
    assert "delay_value" in rows[1].errors
    assert "event" in response.context["trigger_rows"][0].errors
    summary = [item["text"] for item in response.context["error_summary"]]
    assert any(text.startswith("Step 2, Subject: ") for text in summary), summary
    assert any(text.startswith("Trigger 1, Event name: ") for text in summary), summary
    assert response.context["focus"] == "id_triggers-0-event"
    html = response.content.decode()
    # What was typed comes back.
    assert "Hi {{ settings.SECRET_KEY }}" in response.context["step_rows"][1]["subject"].value()
    assert 'value="Broken"' in html


def test_the_service_rejects_what_the_form_accepted_beside_the_input(marketer_client):
    data = editor_data(steps=[{"subject": "Hi {{ secret }}"}])
    response = marketer_client.post(NEW, data)
    assert response.status_code == 400
    assert "is not a merge field" in str(response.context["step_rows"][0].errors["subject"])
    assert not Sequence.objects.exists()


def test_an_active_sequence_needs_a_step(marketer_client):
    response = marketer_client.post(NEW, editor_data(steps=[]))
    assert response.status_code == 400
    assert "at least one step" in response.content.decode()
    assert not Sequence.objects.exists()


def test_it_edits_and_reorders_steps(marketer_client):
    sequence = make_sequence(steps=[{"subject": "One", "body": "1"},
                                    {"subject": "Two", "body": "2"}])
    url = reverse("nurture:edit", args=[sequence.pk])
    page = marketer_client.get(url)
    assert page.status_code == 200
    # Rows in the opposite order of their positions: saved in position order.
    data = editor_data(name="Renamed", steps=[
        {"subject": "One", "body": "1", "position": 1},
        {"subject": "Two", "body": "2", "position": 0, "delay_value": 2},
    ])
    response = marketer_client.post(url, data)
    assert response.status_code == 302
    sequence.refresh_from_db()
    assert sequence.name == "Renamed"
    assert [(s.subject, s.delay_minutes) for s in sequence.steps.order_by("position")] == [
        ("Two", 2 * 24 * 60), ("One", 0)]


def test_move_add_and_remove_change_the_page_only_and_keep_what_was_typed(marketer_client):
    data = editor_data(name="Typed", steps=[{"subject": "A"}, {"subject": "B"}],
                       action="move_step:1:up")
    response = marketer_client.post(NEW, data)
    assert response.status_code == 200
    assert [r["subject"].value() for r in response.context["step_rows"]] == ["B", "A"]
    assert response.context["settings_form"]["name"].value() == "Typed"

    data["_action"] = "add_step"
    response = marketer_client.post(NEW, data)
    assert len(response.context["step_rows"]) == 3
    data["_action"] = "remove_step:0"
    response = marketer_client.post(NEW, data)
    assert [r["subject"].value() for r in response.context["step_rows"]] == ["B"]
    data["_action"] = "add_trigger"
    response = marketer_client.post(NEW, data)
    assert len(response.context["trigger_rows"]) == 1
    assert not Sequence.objects.exists()


def test_it_pauses_and_activates(marketer_client):
    sequence = make_sequence()
    url = reverse("nurture:status", args=[sequence.pk])
    assert marketer_client.post(url, {"status": "paused"}).status_code == 302
    sequence.refresh_from_db()
    assert sequence.status == "paused"
    marketer_client.post(url, {"status": "active"})
    sequence.refresh_from_db()
    assert sequence.status == "active"
    assert marketer_client.post(url, {"status": "bogus"}).status_code == 400


def test_activating_a_sequence_without_steps_says_why(marketer_client):
    sequence = make_sequence(status="draft", steps=[])
    response = marketer_client.post(reverse("nurture:status", args=[sequence.pk]),
                                    {"status": "active"}, follow=True)
    assert "at least one step" in response.content.decode()
    sequence.refresh_from_db()
    assert sequence.status == "draft"


def test_it_deletes_after_confirmation(marketer_client):
    sequence = make_sequence(name="Old")
    url = reverse("nurture:delete", args=[sequence.pk])
    response = marketer_client.get(url)
    assert "Delete “Old”?" in response.content.decode()
    assert Sequence.objects.exists()
    assert marketer_client.post(url).status_code == 302
    assert not Sequence.objects.exists()


# --- Preview and test send -------------------------------------------------------------------


def test_it_previews_a_step_with_a_chosen_leads_data(marketer_client):
    LeadFactory(email="nora@acme.example", first_name="<b>Nora</b>", company="Acme")
    data = editor_data(steps=[{"subject": "Hi {{ first_name }}",
                               "body": "At {{ company }}. [Guide](https://example.com/g)"}],
                       action="preview:0")
    data["preview_lead"] = "nora@acme.example"
    response = marketer_client.post(NEW, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "nurture/editor.html" not in [t.name for t in response.templates]
    preview = response.context["preview"]
    assert preview.subject == "Hi <b>Nora</b>"
    assert "At Acme." in preview.html
    assert 'href="https://example.com/g"' in preview.html  # no tracking in a preview
    html = response.content.decode()
    assert "<b>Nora</b>" not in html and "<b>" not in html
    # The email's HTML is in the iframe's srcdoc attribute, escaped once more.
    assert 'srcdoc="&lt;!doctype html&gt;' in html
    assert not Sequence.objects.exists() and not EmailMessage.objects.exists()


def test_a_preview_of_a_broken_step_says_why(marketer_client):
    data = editor_data(steps=[{"body": "{% include 'x.html' %}"}], action="preview:0")
    response = marketer_client.post(NEW, data, HTTP_HX_REQUEST="true")
    assert "not allowed in emails" in response.content.decode()


def test_a_preview_offers_a_choice_when_several_leads_match(marketer_client):
    LeadFactory(email="ann@one.example", first_name="Ann")
    LeadFactory(email="ann@two.example", first_name="Ann")
    data = editor_data(steps=[{}], action="preview:0")
    data["preview_lead"] = "ann"
    response = marketer_client.post(NEW, data)  # without htmx: the whole page
    assert "nurture/editor.html" in [t.name for t in response.templates]
    assert len(response.context["preview_leads"]) == 2


def test_send_a_test_to_me_mails_the_user_only_and_records_nothing(marketer_client, marketer):
    lead = LeadFactory(email="nora@acme.example", first_name="Nora")
    data = editor_data(steps=[{"subject": "Hi {{ first_name }}"}], action="test:0")
    data["preview_lead"] = lead.email
    response = marketer_client.post(NEW, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == [marketer.email]
    assert sent.subject == "[Test] Hi Nora"
    assert sent.extra_headers[TEST_HEADER] == "1"
    assert not EmailMessage.objects.exists()
    assert not lead.activities.filter(kind="email_sent").exists()


def test_send_a_test_through_real_smtp(marketer_client, marketer, smtp_server):
    data = editor_data(steps=[{"subject": "Hi {{ first_name|default:\"you\" }}"}],
                       action="test:0")
    marketer_client.post(NEW, data, HTTP_HX_REQUEST="true")
    [message] = smtp_server.messages
    assert message["Subject"] == "[Test] Hi Mia"
    assert message[TEST_HEADER] == "1"
    assert message["To"] == marketer.email


def test_test_sends_are_rate_limited(marketer_client):
    data = editor_data(steps=[{}], action="test:0")
    # The limit counts per clock minute: a frozen clock keeps all six in one.
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC), tick=False):
        codes = [marketer_client.post(NEW, data, HTTP_HX_REQUEST="true").status_code
                 for _ in range(6)]
    assert codes == [200] * 5 + [429]
    assert len(mail.outbox) == 5


# --- Enrollments ------------------------------------------------------------------------------


def test_it_lists_filters_adds_and_removes_enrollments(marketer_client):
    sequence = make_sequence()
    url = reverse("nurture:enrollments", args=[sequence.pk])
    lead = LeadFactory(email="nora@acme.example")
    response = marketer_client.post(reverse("nurture:enrollment_add", args=[sequence.pk]),
                                    {"lead": "NORA@acme.example"})
    assert response.status_code == 302
    enrollment = Enrollment.objects.get(sequence=sequence, lead=lead)
    assert enrollment.source == "manual"

    again = marketer_client.post(reverse("nurture:enrollment_add", args=[sequence.pk]),
                                 {"lead": "nora@acme.example"})
    assert again.status_code == 400
    assert "already in this sequence" in again.content.decode()

    response = marketer_client.get(url, {"state": "active"})
    assert list(response.context["page_obj"].object_list) == [enrollment]
    response = marketer_client.post(reverse("nurture:enrollment_exit", args=[enrollment.pk]),
                                    {"next": url})
    assert response.status_code == 302 and response["Location"] == url
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.EXITED
    assert enrollment.exit_reason == "removed by hand"
    assert not marketer_client.get(url, {"state": "active"}).context["page_obj"].object_list
    assert marketer_client.get(url, {"state": "exited"}).context["page_obj"].object_list


def test_exit_does_not_redirect_off_site(marketer_client):
    sequence = make_sequence()
    enrollment = enrollment_create(sequence=sequence, lead=LeadFactory())
    response = marketer_client.post(reverse("nurture:enrollment_exit", args=[enrollment.pk]),
                                    {"next": "https://evil.example/"})
    assert response["Location"] == reverse("nurture:enrollments", args=[sequence.pk])


def test_adding_an_unknown_lead_says_so(marketer_client):
    sequence = make_sequence()
    response = marketer_client.post(reverse("nurture:enrollment_add", args=[sequence.pk]),
                                    {"lead": "nobody@nowhere.example"})
    assert response.status_code == 400
    assert "No lead matches" in response.content.decode()


# --- Settings and suppression list -----------------------------------------------------------


def test_sending_settings_are_validated_and_saved(marketer_client):
    url = reverse("nurture:settings")
    bad = marketer_client.post(url, {"from_name": "Acme\nBcc: x@y", "from_email": "nope",
                                     "reply_to": "", "postal_address": ""})
    assert bad.status_code == 400
    errors = bad.context["form"].errors
    assert {"from_name", "from_email", "postal_address"} <= set(errors)
    good = marketer_client.post(url, {"from_name": "Acme", "from_email": "news@acme.example",
                                      "reply_to": "hello@acme.example",
                                      "postal_address": "1 Main St, Springfield"})
    assert good.status_code == 302
    current = SendingSettings.load()
    assert (current.from_name, current.from_email, current.reply_to) == (
        "Acme", "news@acme.example", "hello@acme.example")


def test_suppression_list_add_search_and_remove(marketer_client):
    sequence = make_sequence()
    lead = LeadFactory(email="bounce@acme.example")
    enrollment = enrollment_create(sequence=sequence, lead=lead)
    url = reverse("nurture:suppressions")
    response = marketer_client.post(reverse("nurture:suppression_add"),
                                    {"email": " Bounce@Acme.example ", "detail": "asked"})
    assert response.status_code == 302
    suppression = Suppression.objects.get()
    assert suppression.email == "bounce@acme.example"
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.EXITED
    assert marketer_client.post(reverse("nurture:suppression_add"),
                                {"email": "not an email"}).status_code == 400
    suppression_add(email="other@x.example")
    response = marketer_client.get(url, {"q": "bounce"})
    assert [s.email for s in response.context["page_obj"].object_list] == [
        "bounce@acme.example"]
    marketer_client.post(reverse("nurture:suppression_remove", args=[suppression.pk]))
    assert list(Suppression.objects.values_list("email", flat=True)) == ["other@x.example"]


# --- Permissions --------------------------------------------------------------------------------


def test_reps_read_without_edit_controls_and_get_403_on_writes(rep_client):
    sequence = make_sequence(name="Welcome")
    enrollment = enrollment_create(sequence=sequence, lead=LeadFactory())
    suppression = suppression_add(email="x@y.example")
    html = rep_client.get(INDEX).content.decode()
    assert "Welcome" in html
    assert reverse("nurture:new") not in html and "pause-sequence" not in html
    editor = rep_client.get(reverse("nurture:edit", args=[sequence.pk]))
    assert editor.status_code == 200
    assert "save-sequence" not in editor.content.decode()
    assert "<fieldset disabled>" in editor.content.decode()
    for url in (reverse("nurture:enrollments", args=[sequence.pk]),
                reverse("nurture:settings"), reverse("nurture:suppressions")):
        page = rep_client.get(url)
        assert page.status_code == 200
        assert "remove-" not in page.content.decode()
    writes = [
        (NEW, editor_data(steps=[{}])),
        (reverse("nurture:edit", args=[sequence.pk]), editor_data(steps=[{}])),
        (reverse("nurture:status", args=[sequence.pk]), {"status": "paused"}),
        (reverse("nurture:delete", args=[sequence.pk]), {}),
        (reverse("nurture:enrollment_add", args=[sequence.pk]), {"lead": "a@b.c"}),
        (reverse("nurture:leads_enroll"), {"sequence": sequence.pk, "lead": [1]}),
        (reverse("nurture:settings"), {"from_email": "a@b.example", "postal_address": "x"}),
        (reverse("nurture:suppression_add"), {"email": "a@b.example"}),
        (reverse("nurture:suppression_remove", args=[suppression.pk]), {}),
    ]
    for url, data in writes:
        assert rep_client.post(url, data).status_code == 403, url
    # Reps work the lead: taking it out of a sequence is theirs too (test_enrollment_exit).
    assert enrollment.lead.enrollments.get().state == EnrollmentState.ACTIVE
    assert rep_client.get(NEW).status_code == 403
    assert rep_client.get(reverse("nurture:delete", args=[sequence.pk])).status_code == 403
    sequence.refresh_from_db()
    assert sequence.status == "active"
    assert Sequence.objects.count() == 1 and Suppression.objects.count() == 1


def test_anonymous_users_go_to_the_login_page(client):
    sequence = make_sequence()
    for url in (INDEX, NEW, reverse("nurture:edit", args=[sequence.pk]),
                reverse("nurture:settings"), reverse("nurture:suppressions"),
                reverse("nurture:enrollments", args=[sequence.pk])):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    response = client.post(reverse("nurture:status", args=[sequence.pk]), {"status": "paused"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_users_without_a_role_get_403(client, outsider):
    client.force_login(outsider)
    assert client.get(INDEX).status_code == 403


def test_writes_need_the_csrf_token(marketer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)
    sequence = make_sequence()
    response = client.post(reverse("nurture:status", args=[sequence.pk]), {"status": "paused"})
    assert response.status_code == 403


def test_every_page_is_reachable_from_the_index(marketer_client):
    sequence = make_sequence()
    html = marketer_client.get(INDEX).content.decode()
    for url in (reverse("nurture:settings"), reverse("nurture:suppressions"),
                reverse("nurture:enrollments", args=[sequence.pk]),
                reverse("nurture:emails", args=[sequence.pk]),
                reverse("nurture:edit", args=[sequence.pk]), NEW,
                reverse("nurture:delete", args=[sequence.pk])):
        assert f'href="{url}' in html, url
        assert marketer_client.get(url).status_code == 200


# --- The lead page ------------------------------------------------------------------------------


def test_the_lead_page_shows_the_leads_sequences_and_lets_a_marketer_remove_it(
    marketer_client,
):
    sequence = make_sequence(name="Welcome <b>drip</b>")
    lead = LeadFactory(email="nora@acme.example")
    enrollment = enrollment_create(sequence=sequence, lead=lead)
    url = reverse("pipeline:lead_detail", args=[lead.pk])
    html = marketer_client.get(url).content.decode()
    assert 'data-testid="lead-sequences"' in html
    assert "Welcome &lt;b&gt;drip&lt;/b&gt;" in html
    assert reverse("nurture:enrollment_exit", args=[enrollment.pk]) in html
    card = html[html.index('data-testid="lead-sequences"'):]
    token = card.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    assert len(token) > 20
    response = marketer_client.post(reverse("nurture:enrollment_exit", args=[enrollment.pk]),
                                    {"next": url})
    assert response["Location"] == url
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.EXITED


def test_the_lead_tag_shows_unsubscribed_and_suppressed(rep, rf):
    sequence = make_sequence()
    lead = LeadFactory(email="gone@acme.example")
    enrollment_create(sequence=sequence, lead=lead)
    suppression_add(email=lead.email)
    type(lead).objects.filter(pk=lead.pk).update(unsubscribed_at=timezone.now())
    lead.refresh_from_db()
    request = rf.get("/")
    request.user = rep
    html = Template("{% load nurture_tags %}{% lead_sequences lead %}").render(
        Context({"lead": lead, "request": request}))
    assert "Unsubscribed" in html and "suppression list" in html


# --- Failed emails ----------------------------------------------------------------------------


def test_failed_emails_show_with_their_reason_wherever_the_sends_do(marketer_client, smtp):
    sequence = make_sequence(name="Drip")
    gone = LeadFactory(email="gone@acme.example")
    here = LeadFactory(email="here@acme.example")
    enrollment_create(sequence=sequence, lead=gone)
    enrollment_create(sequence=sequence, lead=here)
    smtp.refuse("gone@acme.example")
    result = dispatch_batch(now=timezone.now())
    assert (result.sent, result.failed) == (1, 1)
    reason = "550"

    html = marketer_client.get(reverse("nurture:enrollments", args=[sequence.pk])).content
    rows = {row.split("</td>")[0]: row for row in
            html.decode().split('data-testid="enrollment-row"')[1:]}
    gone_row = next(r for k, r in rows.items() if "gone@acme.example" in k)
    here_row = next(r for k, r in rows.items() if "here@acme.example" in k)
    assert 'data-testid="enrollment-failure"' in gone_row and reason in gone_row
    assert "0 sent" in gone_row and "1 sent" in here_row
    assert 'data-testid="enrollment-failure"' not in here_row

    emails_url = reverse("nurture:emails", args=[sequence.pk])
    response = marketer_client.get(emails_url, {"status": "failed"})
    assert [e.to_email for e in response.context["page_obj"].object_list] == [
        "gone@acme.example"]
    page = response.content.decode()
    assert reason in page and "No such user here" in page
    assert len(marketer_client.get(emails_url).context["page_obj"].object_list) == 2

    index = marketer_client.get(INDEX).content.decode()
    assert f'href="{emails_url}?status=failed"' in index and "1 failed" in index

    lead_page = marketer_client.get(reverse("pipeline:lead_detail", args=[gone.pk]))
    card = lead_page.content.decode().split('data-testid="lead-sequences"', 1)[1]
    assert 'data-testid="lead-sequence-failure"' in card and "No such user here" in card
    timeline = lead_page.content.decode()
    assert 'data-kind="email_failed"' in timeline
