"""The lead page's sales sections: move control, deal, BANT, notes, tasks; and the
"my tasks" page with overdue tasks highlighted."""

from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from capture.models import Stage
from pipeline.models import Deal, Note, PipelineSettings, Task
from tests.factories import LeadFactory, NoteFactory, SalesRepFactory, TaskFactory


def page(client, lead) -> str:
    return client.get(reverse("pipeline:lead_detail", args=[lead.pk])).content.decode()


def test_the_lead_page_shows_move_deal_bant_notes_and_tasks(client, rep):
    lead = LeadFactory(stage=Stage.MQL)
    NoteFactory(lead=lead, author=rep, text="<script>alert(1)</script>")
    TaskFactory(lead=lead, assignee=rep, title="Call <b>back</b>")
    client.force_login(rep)
    html = page(client, lead)
    for testid in ("move-form", "deal-form", "bant-form", "note-form", "task-form"):
        assert f'data-testid="{testid}"' in html, testid
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Call &lt;b&gt;back&lt;/b&gt;" in html
    assert '<option value="sql">SQL</option>' in html


def test_marketers_see_the_sections_read_only(client, marketer):
    lead = LeadFactory(stage=Stage.MQL)
    client.force_login(marketer)
    html = page(client, lead)
    assert 'data-testid="move-form"' not in html and 'data-testid="note-form"' not in html
    response = client.post(reverse("pipeline:lead_note_add", args=[lead.pk]),
                           {"note-text": "hi"})
    assert response.status_code == 403


def test_the_move_control_moves_the_lead(client, rep):
    lead = LeadFactory(stage=Stage.MQL)
    client.force_login(rep)
    response = client.post(reverse("pipeline:lead_move", args=[lead.pk]),
                           {"to": "sql", "next": reverse("pipeline:lead_detail", args=[lead.pk])},
                           follow=True)
    assert "Moved" in response.content.decode()
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL


def test_deal_fields_are_saved(client, rep):
    lead = LeadFactory()
    client.force_login(rep)
    client.post(reverse("pipeline:lead_deal", args=[lead.pk]),
                {"deal-value": "9999.99", "deal-expected_close": "2027-03-01"})
    deal = Deal.objects.get(lead=lead)
    assert deal.value == Decimal("9999.99") and str(deal.expected_close) == "2027-03-01"
    response = client.post(reverse("pipeline:lead_deal", args=[lead.pk]),
                           {"deal-value": "-5"}, follow=True)
    assert "greater than or equal to 0" in response.content.decode()
    deal.refresh_from_db()
    assert deal.value == Decimal("9999.99")


def test_bant_is_saved_and_required_items_are_marked(client, rep):
    PipelineSettings.objects.create(pk=1, require_budget=True)
    lead = LeadFactory(stage=Stage.MQL)
    client.force_login(rep)
    assert 'title="Required before SQL"' in page(client, lead)
    response = client.post(reverse("pipeline:lead_move", args=[lead.pk]), {"to": "sql"},
                           follow=True)
    assert "must confirm: budget" in response.content.decode()
    client.post(reverse("pipeline:lead_bant", args=[lead.pk]), {
        "budget": "yes", "budget_note": "50k", "authority": "unknown", "need": "no",
        "timing": "unknown"})
    deal = Deal.objects.get(lead=lead)
    assert (deal.budget, deal.budget_note, deal.need) == ("yes", "50k", "no")
    client.post(reverse("pipeline:lead_move", args=[lead.pk]), {"to": "sql"})
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL


def test_notes_are_added_and_edited_only_by_their_author(client, rep):
    lead = LeadFactory()
    client.force_login(rep)
    client.post(reverse("pipeline:lead_note_add", args=[lead.pk]), {"note-text": "First call"})
    note = Note.objects.get(lead=lead)
    client.post(reverse("pipeline:lead_note_edit", args=[lead.pk, note.pk]),
                {f"note-{note.pk}-text": "First call, went well"})
    note.refresh_from_db()
    assert note.text == "First call, went well"
    other = NoteFactory(lead=lead, author=SalesRepFactory())
    response = client.post(reverse("pipeline:lead_note_edit", args=[lead.pk, other.pk]),
                           {f"note-{other.pk}-text": "mine"})
    assert response.status_code == 403


def test_tasks_are_added_completed_and_listed_with_overdue_highlighted(client, rep):
    lead = LeadFactory(first_name="Tess")
    client.force_login(rep)
    client.post(reverse("pipeline:lead_task_add", args=[lead.pk]),
                {"task-title": "Send deck", "task-due_date": "2020-01-01"})
    task = Task.objects.get(lead=lead)
    assert task.assignee == rep
    TaskFactory(assignee=rep, due_at=timezone.now() + timedelta(days=3), title="Later")
    TaskFactory(title="Someone else's")
    html = client.get(reverse("pipeline:my_tasks")).content.decode()
    assert "Send deck" in html and "Later" in html and "Someone else" not in html
    assert 'data-testid="overdue-count">1 overdue' in html
    assert "task-overdue" in html
    client.post(reverse("pipeline:task_done", args=[task.pk]), {"next": "tasks"})
    task.refresh_from_db()
    assert task.done_at is not None
    assert "Send deck" not in client.get(reverse("pipeline:my_tasks")).content.decode()


def test_a_task_needs_a_title_and_a_date(client, rep):
    lead = LeadFactory()
    client.force_login(rep)
    client.post(reverse("pipeline:lead_task_add", args=[lead.pk]), {"task-title": ""})
    assert not Task.objects.exists()


def test_only_the_assignee_or_creator_completes_a_task(client, rep):
    task = TaskFactory()
    client.force_login(rep)
    assert client.post(reverse("pipeline:task_done", args=[task.pk])).status_code == 403


def test_the_deal_and_bant_forms_save_again_and_again(client, rep):
    lead = LeadFactory()
    client.force_login(rep)
    for value in ("100", "200"):
        client.post(reverse("pipeline:lead_deal", args=[lead.pk]), {"deal-value": value})
    for answer in ("no", "yes"):
        client.post(reverse("pipeline:lead_bant", args=[lead.pk]), {
            "budget": answer, "authority": "unknown", "need": "unknown", "timing": "unknown"})
    deal = Deal.objects.get(lead=lead)
    assert (deal.value, deal.budget) == (Decimal("200"), "yes")


def test_a_call_is_logged_from_the_lead_page_and_shows_on_the_timeline(client, rep):
    lead = LeadFactory()
    client.force_login(rep)
    response = client.post(reverse("pipeline:lead_note_add", args=[lead.pk]),
                           {"note-kind": "call", "note-text": "Talked budget"}, follow=True)
    assert "Call logged." in response.content.decode()
    assert Note.objects.get(lead=lead).kind == "call"
    html = page(client, lead)
    assert 'data-testid="note-kind">Call</span>' in html
    assert "Call logged" in html and "bi-telephone" in html  # the timeline entry
    client.post(reverse("pipeline:lead_note_add", args=[lead.pk]),
                {"note-kind": "fax", "note-text": "x"})
    assert Note.objects.filter(lead=lead).count() == 1  # an unknown kind is refused
