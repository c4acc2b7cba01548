"""/api/v1/leads/<id>/transitions/, notes/, tasks/ and /api/v1/board/."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from capture.models import Stage
from pipeline.models import PipelineSettings, StageTransition
from tests.factories import DealFactory, LeadFactory, NoteFactory, SalesRepFactory, TaskFactory

pytestmark = pytest.mark.django_db


def transitions(lead) -> str:
    return f"/api/v1/leads/{lead.pk}/transitions/"


def test_a_rep_moves_a_lead_and_reads_its_history(api_client_for, rep):
    lead = LeadFactory(stage=Stage.MQL)
    api = api_client_for(rep)
    response = api.post(transitions(lead), {"to": "sql", "reason": "Qualified on a call"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["from_stage"], body["to_stage"], body["by_user"]) == ("mql", "sql", rep.pk)
    assert body["reason"] == "Qualified on a call"
    history = api.get(transitions(lead)).json()
    assert [t["to_stage"] for t in history["results"]] == ["sql"]
    assert history["results"][0]["by_user_name"] == "Sam Seller"


def test_a_move_the_pipeline_does_not_allow_is_a_400_on_to(api_client_for, rep):
    lead = LeadFactory(stage=Stage.CUSTOMER)
    response = api_client_for(rep).post(transitions(lead), {"to": "mql"})
    assert response.status_code == 400
    assert response.json() == {"to": ["A lead cannot move from Customer to MQL."]}
    assert not StageTransition.objects.exists()


def test_an_unknown_stage_and_a_missing_reason_are_400s(api_client_for, rep):
    lead = LeadFactory(stage=Stage.MQL)
    api = api_client_for(rep)
    assert "to" in api.post(transitions(lead), {"to": "won"}).json()
    assert "to" in api.post(transitions(lead), {}).json()
    response = api.post(transitions(lead), {"to": "lead"})
    assert response.status_code == 400
    assert "needs a reason" in response.json()["to"][0]


def test_missing_bant_is_a_400_naming_it(api_client_for, rep):
    PipelineSettings.objects.create(pk=1, require_authority=True)
    lead = LeadFactory(stage=Stage.MQL)
    response = api_client_for(rep).post(transitions(lead), {"to": "sql"})
    assert response.status_code == 400
    assert "authority" in response.json()["to"][0]


def test_marketers_read_the_history_but_may_not_move(api_client_for, marketer):
    lead = LeadFactory(stage=Stage.MQL)
    api = api_client_for(marketer)
    assert api.get(transitions(lead)).status_code == 200
    assert api.post(transitions(lead), {"to": "sql"}).status_code == 403


def test_outsiders_and_anonymous_clients_are_refused(api_client_for, outsider):
    lead = LeadFactory()
    assert api_client_for().get(transitions(lead)).status_code == 401
    assert api_client_for(outsider).get(transitions(lead)).status_code == 403
    assert api_client_for(outsider).post(transitions(lead), {"to": "mql"}).status_code == 403


def test_an_unknown_lead_is_a_404(api_client_for, rep):
    assert api_client_for(rep).get("/api/v1/leads/999999/transitions/").status_code == 404
    assert api_client_for(rep).post("/api/v1/leads/999999/notes/", {"text": "x"}
                                    ).status_code == 404


# --- Notes ------------------------------------------------------------------------------


def test_notes_are_added_listed_and_edited_by_their_author(api_client_for, rep):
    lead = LeadFactory()
    api = api_client_for(rep)
    response = api.post(f"/api/v1/leads/{lead.pk}/notes/", {"text": "<b>Hot</b> lead"})
    assert response.status_code == 201
    note = response.json()
    assert note["text"] == "<b>Hot</b> lead" and note["author"] == rep.pk
    assert [n["id"] for n in api.get(f"/api/v1/leads/{lead.pk}/notes/").json()["results"]] == [
        note["id"]]
    url = f"/api/v1/leads/{lead.pk}/notes/{note['id']}/"
    assert api.patch(url, {"text": "Warm lead"}).json()["text"] == "Warm lead"
    assert api.patch(url, {"text": "  "}).status_code == 400
    assert api.patch(url, {}).status_code == 400


def test_no_one_edits_another_persons_note(api_client_for, rep):
    note = NoteFactory(author=SalesRepFactory())
    response = api_client_for(rep).patch(
        f"/api/v1/leads/{note.lead_id}/notes/{note.pk}/", {"text": "mine"})
    assert response.status_code == 403
    note.refresh_from_db()
    assert note.text != "mine"


def test_note_input_errors_are_400s_per_field(api_client_for, rep):
    lead = LeadFactory()
    api = api_client_for(rep)
    assert "text" in api.post(f"/api/v1/leads/{lead.pk}/notes/", {}).json()
    assert "text" in api.post(f"/api/v1/leads/{lead.pk}/notes/", {"text": "x" * 10_001}).json()


def test_marketers_may_read_notes_but_not_write_them(api_client_for, marketer):
    lead = LeadFactory()
    api = api_client_for(marketer)
    assert api.get(f"/api/v1/leads/{lead.pk}/notes/").status_code == 200
    assert api.post(f"/api/v1/leads/{lead.pk}/notes/", {"text": "hi"}).status_code == 403


# --- Tasks ------------------------------------------------------------------------------


def test_tasks_are_added_and_completed(api_client_for, rep):
    lead = LeadFactory()
    api = api_client_for(rep)
    due = (timezone.now() + timedelta(days=2)).isoformat()
    response = api.post(f"/api/v1/leads/{lead.pk}/tasks/", {"title": "Send quote", "due_at": due})
    assert response.status_code == 201, response.json()
    task = response.json()
    assert task["assignee"] == rep.pk and task["done"] is False
    url = f"/api/v1/leads/{lead.pk}/tasks/{task['id']}/"
    done = api.patch(url, {"done": True}).json()
    assert done["done"] is True and done["done_at"]
    listed = api.get(f"/api/v1/leads/{lead.pk}/tasks/").json()["results"]
    assert [t["id"] for t in listed] == [task["id"]]


def test_task_input_errors_are_400s_per_field(api_client_for, rep):
    lead = LeadFactory()
    api = api_client_for(rep)
    body = api.post(f"/api/v1/leads/{lead.pk}/tasks/", {"title": "", "due_at": "soon"}).json()
    assert set(body) == {"title", "due_at"}
    body = api.post(f"/api/v1/leads/{lead.pk}/tasks/",
                    {"title": "x", "due_at": timezone.now().isoformat(), "assignee": 99999}).json()
    assert "assignee" in body


def test_only_the_assignee_or_creator_completes_a_task(api_client_for, rep):
    task = TaskFactory()
    response = api_client_for(rep).patch(
        f"/api/v1/leads/{task.lead_id}/tasks/{task.pk}/", {"done": True})
    assert response.status_code == 403


# --- Board data ---------------------------------------------------------------------------


def test_the_board_endpoint_gives_every_column_with_counts_and_cursors(api_client_for, rep):
    leads = [LeadFactory(stage=Stage.MQL, score=i) for i in range(5)]
    DealFactory(lead=leads[0], value=Decimal("250"))
    LeadFactory(stage=Stage.DISQUALIFIED)
    api = api_client_for(rep)
    body = api.get("/api/v1/board/", {"page_size": 2}).json()
    columns = {c["stage"]: c for c in body["columns"]}
    assert list(columns) == ["lead", "mql", "sql", "opportunity", "customer", "disqualified"]
    mql = columns["mql"]
    assert (mql["count"], mql["deal_total"]) == (5, "250.00")
    assert [c["id"] for c in mql["results"]] == [leads[4].pk, leads[3].pk]
    seen = [c["id"] for c in mql["results"]]
    cursor = mql["next_cursor"]
    while cursor:
        page = api.get("/api/v1/board/", {"column": "mql", "cursor": cursor, "page_size": 2})
        column = page.json()["columns"]
        assert [c["stage"] for c in column] == ["mql"]
        seen += [c["id"] for c in column[0]["results"]]
        cursor = column[0]["next_cursor"]
    assert seen == [lead.pk for lead in reversed(leads)]
    assert columns["disqualified"]["count"] == 1


def test_the_board_endpoint_filters_like_the_board(api_client_for, rep):
    mine = LeadFactory(stage=Stage.SQL, owner=rep, score=40)
    LeadFactory(stage=Stage.SQL, score=40)
    body = api_client_for(rep).get("/api/v1/board/", {"owner": "me", "score_min": 30}).json()
    sql = next(c for c in body["columns"] if c["stage"] == "sql")
    assert [c["id"] for c in sql["results"]] == [mine.pk] and sql["count"] == 1


@pytest.mark.parametrize("params", [
    {"cursor": "1_2"}, {"column": "won"}, {"column": "mql", "cursor": "abc"},
    {"page_size": "0"}, {"page_size": "x"}, {"score_min": "many"}, {"created": "1d"},
])
def test_the_board_endpoint_answers_bad_input_with_a_400(api_client_for, rep, params):
    response = api_client_for(rep).get("/api/v1/board/", params)
    assert response.status_code == 400
    assert response.json()


def test_the_board_endpoints_query_count_does_not_grow(
    api_client_for, rep, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_client_for(rep)
    api.get("/api/v1/board/")
    for stage in Stage.values:
        LeadFactory(stage=stage, owner=rep)
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/board/")
    for stage in Stage.values:
        for i in range(30):
            DealFactory(lead=LeadFactory(stage=stage, owner=rep, score=i), value=i)
    with django_assert_max_num_queries(len(few.captured_queries)):
        api.get("/api/v1/board/", {"page_size": 20})


def test_calls_emails_and_meetings_are_logged_as_notes_of_their_kind(api_client_for, rep):
    lead = LeadFactory()
    api = api_client_for(rep)
    response = api.post(f"/api/v1/leads/{lead.pk}/notes/", {"text": "Demo booked",
                                                             "kind": "call"})
    assert response.status_code == 201
    assert response.json()["kind"] == "call"
    assert lead.activities.get(kind="note_added").data["note_kind"] == "call"
    bad = api.post(f"/api/v1/leads/{lead.pk}/notes/", {"text": "x", "kind": "telegram"})
    assert bad.status_code == 400 and "kind" in bad.json()
