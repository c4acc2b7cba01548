"""/api/v1/sequences/… and /api/v1/leads/<id>/emails/: the JSON contract, permissions
and per-field 400s."""

import pytest

from nurture.models import Sequence, Step
from tests.factories import FormFactory, LeadFactory
from tests.nurture.conftest import dispatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def form():
    return FormFactory()


def contract(form) -> dict:
    return {
        "name": "Ebook follow-up",
        "status": "active",
        "triggers": [{"type": "form_submitted", "form": form.pk}],
        "exit_on_stage": "sql",
        "steps": [
            {"subject": "Your ebook, {{ first_name|default:\"friend\" }}",
             "body": "Here it is.", "delay_minutes": 0},
            {"subject": "Did you read it?", "body": "Tell us.", "delay_minutes": 2880},
        ],
    }


def test_a_marketer_creates_a_sequence_with_the_contract_shape(api_client_for, marketer, form):
    response = api_client_for(marketer).post("/api/v1/sequences/", contract(form),
                                             format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert response["Location"].endswith(f"/api/v1/sequences/{body['id']}/")
    assert body["name"] == "Ebook follow-up"
    assert body["status"] == "active"
    assert body["exit_on_stage"] == "sql"
    assert body["triggers"] == [{"type": "form_submitted", "form": form.pk}]
    assert [(s["position"], s["subject"], s["delay_minutes"]) for s in body["steps"]] == [
        (1, "Your ebook, {{ first_name|default:\"friend\" }}", 0),
        (2, "Did you read it?", 2880),
    ]
    assert body["stats"] == {"enrolled": 0, "active": 0, "completed": 0, "exited": 0,
                             "sent": 0, "opened": 0, "clicked": 0}


def test_reading_changing_and_deleting_a_sequence(api_client_for, admin_user, form):
    client = api_client_for(admin_user)
    created = client.post("/api/v1/sequences/", contract(form), format="json").json()
    url = f"/api/v1/sequences/{created['id']}/"
    step_ids = [s["id"] for s in created["steps"]]

    assert client.get(url).json()["name"] == "Ebook follow-up"
    listed = client.get("/api/v1/sequences/").json()
    assert [s["id"] for s in listed["results"]] == [created["id"]]

    changed = client.patch(url, {"status": "paused", "steps": [
        {"id": step_ids[1], "subject": "Second, now first", "body": "Body",
         "delay_minutes": 5},
        {"subject": "New", "body": "Body", "delay_minutes": 5}]}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["status"] == "paused"
    steps = changed.json()["steps"]
    assert steps[0]["id"] == step_ids[1]  # kept by id, moved to the top
    assert steps[1]["id"] not in step_ids and [s["position"] for s in steps] == [1, 2]
    assert not Step.objects.filter(pk=step_ids[0]).exists()  # left out: deleted
    assert client.delete(url).status_code == 204
    assert not Sequence.objects.exists()


def test_only_marketers_and_admins_may_change_sequences(api_client_for, rep, outsider,
                                                        marketer, form):
    created = api_client_for(marketer).post("/api/v1/sequences/", contract(form),
                                            format="json").json()
    url = f"/api/v1/sequences/{created['id']}/"
    reps = api_client_for(rep)
    assert reps.get("/api/v1/sequences/").status_code == 200  # reading: like forms, rules
    assert reps.get(f"{url}enrollments/").status_code == 200
    assert reps.post("/api/v1/sequences/", contract(form), format="json").status_code == 403
    assert reps.patch(url, {"name": "x"}, format="json").status_code == 403
    assert reps.delete(url).status_code == 403
    assert reps.post(f"{url}enrollments/", {"lead": LeadFactory().pk},
                     format="json").status_code == 403
    assert api_client_for(outsider).get("/api/v1/sequences/").status_code == 403
    assert api_client_for().get("/api/v1/sequences/").status_code == 401


def test_bad_input_is_a_400_per_field_and_per_step(api_client_for, marketer, form):
    body = contract(form)
    body["name"] = ""
    body["triggers"] = [{"type": "form_submitted", "form": 999_999}]
    body["steps"] = [
        {"subject": "Fine", "body": "Fine", "delay_minutes": 0},
        {"subject": "{{ settings.SECRET_KEY }}", "body": "{% load static %}",
         "delay_minutes": -1},
    ]
    response = api_client_for(marketer).post("/api/v1/sequences/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert "name" in errors
    assert set(errors["steps"]) == {"1"}
    assert set(errors["steps"]["1"]) == {"delay_minutes"}  # the shape first

    body["name"], body["steps"][1]["delay_minutes"] = "Named", 0
    errors = api_client_for(marketer).post("/api/v1/sequences/", body, format="json").json()
    assert set(errors) == {"triggers", "steps"}
    assert errors["triggers"] == {"0": {"form": ["No form with this id."]}}
    assert set(errors["steps"]) == {"1"}
    assert "attributes and methods" in errors["steps"]["1"]["subject"][0]
    assert "{% load %}" in errors["steps"]["1"]["body"][0]
    assert not Sequence.objects.exists()


def test_a_broken_template_is_rejected_with_its_reason(api_client_for, marketer, form):
    body = contract(form)
    body["steps"][0]["body"] = "Hello {% if first_name %}{{ first_name }}"
    errors = api_client_for(marketer).post("/api/v1/sequences/", body, format="json").json()
    assert "endif" in errors["steps"]["0"]["body"][0]


def test_an_active_sequence_needs_steps(api_client_for, marketer, form):
    body = {**contract(form), "steps": []}
    response = api_client_for(marketer).post("/api/v1/sequences/", body, format="json")
    assert response.status_code == 400 and "steps" in response.json()


def test_enrolling_by_hand_and_listing_enrollments(api_client_for, marketer, form, smtp):
    client = api_client_for(marketer)
    sequence = client.post("/api/v1/sequences/", contract(form), format="json").json()
    lead = LeadFactory()
    url = f"/api/v1/sequences/{sequence['id']}/enrollments/"

    created = client.post(url, {"lead": lead.pk}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["state"] == "active" and created.json()["source"] == "api"
    assert created.json()["next_step"] == 1

    again = client.post(url, {"lead": lead.pk}, format="json")
    assert again.status_code == 400
    assert again.json() == {"lead": ["The lead is already in this sequence."]}
    assert client.post(url, {"lead": 999_999}, format="json").json() == {
        "lead": ["No lead with this id."]}
    assert client.post(url, {}, format="json").status_code == 400

    listed = client.get(url).json()["results"]
    assert [(e["lead"], e["state"]) for e in listed] == [(lead.pk, "active")]
    assert client.get(url + "?state=exited").json()["results"] == []

    dispatch()
    emails = client.get(f"/api/v1/leads/{lead.pk}/emails/").json()["results"]
    assert [(e["subject"], e["status"], e["step"]) for e in emails] == [
        (f"Your ebook, {lead.first_name}", "sent", 1)]

    stats = client.get(f"/api/v1/sequences/{sequence['id']}/").json()["stats"]
    assert stats == {"enrolled": 1, "active": 1, "completed": 0, "exited": 0, "sent": 1,
                     "opened": 0, "clicked": 0}

    removed = client.delete(f"{url}{created.json()['id']}/")
    assert removed.status_code == 200 and removed.json()["state"] == "exited"
    assert removed.json()["exit_reason"] == "removed by hand"


def test_a_reps_may_read_a_leads_emails_but_not_sequences(api_client_for, rep):
    lead = LeadFactory()
    assert api_client_for(rep).get(f"/api/v1/leads/{lead.pk}/emails/").status_code == 200
    assert api_client_for(rep).get("/api/v1/leads/999999/emails/").status_code == 404


def test_the_schema_lists_the_nurture_endpoints(api_client_for, admin_user):
    schema = api_client_for(admin_user).get("/api/schema/?format=json").json()
    for path in ("/api/v1/sequences/", "/api/v1/sequences/{id}/",
                 "/api/v1/sequences/{id}/enrollments/", "/api/v1/leads/{lead_id}/emails/"):
        assert path in schema["paths"], path
    assert Step.objects.count() == 0
