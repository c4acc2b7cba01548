"""/api/v1/forms/ and /api/v1/forms/<id>/: forms through the REST API."""

import pytest

from capture.models import Form, FormStatus, Lead, Submission
from tests.factories import FormFactory, SubmissionFactory

pytestmark = pytest.mark.django_db

FORMS_URL = "/api/v1/forms/"
# The body from issue 3, exactly.
ISSUE_BODY = {
    "name": "Ebook",
    "status": "live",
    "allowed_origins": ["https://www.example.com"],
    "thank_you_message": "Thanks!",
    "redirect_url": None,
    "fields": [
        {"name": "email", "type": "email", "required": True, "maps_to": "email"},
        {"name": "first_name", "type": "text", "maps_to": "first_name"},
        {"name": "company", "type": "text", "maps_to": "company"},
        {"name": "topic", "type": "select", "options": ["a", "b"], "maps_to": "attributes.topic"},
    ],
}


def form_url(form_or_id) -> str:
    return f"{FORMS_URL}{getattr(form_or_id, 'pk', form_or_id)}/"


@pytest.fixture
def marketer_api(api_client_for, marketer):
    return api_client_for(marketer)


def test_the_issues_body_creates_a_live_form_with_its_key(marketer_api, marketer, client):
    response = marketer_api.post(FORMS_URL, ISSUE_BODY, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    form = Form.objects.get()
    assert body["key"] == form.key and len(form.key) >= 16
    assert body["id"] == form.pk
    assert response["Location"].endswith(form_url(form))
    assert (body["name"], body["status"], body["redirect_url"]) == ("Ebook", "live", None)
    assert body["thank_you_message"] == "Thanks!"
    assert body["allowed_origins"] == ["https://www.example.com"]
    assert [f["name"] for f in body["fields"]] == ["email", "first_name", "company", "topic"]
    assert body["fields"][3] == {
        "name": "topic", "type": "select", "label": "", "placeholder": "", "help_text": "",
        "required": False, "default": "", "options": ["a", "b"], "maps_to": "attributes.topic"}
    assert body["hosted_url"].endswith(f"/f/{form.key}/")
    assert form.created_by == marketer

    # Websites can post to it straight away, by its key.
    submitted = client.post(
        f"/api/v1/forms/{body['key']}/submissions/",
        {"email": "ann@example.com", "first_name": "Ann", "company": "Acme", "topic": "b"},
        content_type="application/json", HTTP_ORIGIN="https://www.example.com",
    )
    assert submitted.status_code == 201, submitted.content
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.company, lead.attributes) == (
        "ann@example.com", "Ann", "Acme", {"topic": "b"})


def test_a_form_created_without_fields_has_its_email_field(marketer_api):
    response = marketer_api.post(FORMS_URL, {"name": "Newsletter"}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "draft"
    assert [f["name"] for f in response.json()["fields"]] == ["email"]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"name": ["This field is required."]}),
        ({"name": "X", "fields": [{"name": "first_name"}]},
         {"fields": {"non_field_errors": [
             "A form needs its email field (it is how a submission finds its lead)."]}}),
        ({"name": "X", "fields": [ISSUE_BODY["fields"][0], {"name": "t", "type": "select"}]},
         {"fields": {"1": {"options": ["Give at least one option."]}}}),
        ({"name": "X", "fields": [ISSUE_BODY["fields"][0], {"type": "text"}]},
         {"fields": {"1": {"name": ["This field is required."]}}}),
        ({"name": "X", "fields": [ISSUE_BODY["fields"][0], {"name": "n", "type": "nope"}]},
         {"fields": {"1": {"type": ['"nope" is not a valid choice.']}}}),
        ({"name": "X", "fields": [ISSUE_BODY["fields"][0],
                                  {"name": "size", "type": "text", "maps_to": "company_size"}]},
         {"fields": {"1": {"maps_to": ["Company size can only be filled by a Number field."]}}}),
        ({"name": "X", "redirect_url": "https://evil.example.net/",
          "allowed_origins": ["https://www.example.com"]},
         {"redirect_url": ["The redirect URL must be on one of the allowed origins' hosts; "
                           "add https://evil.example.net to the allowed origins first."]}),
        ({"name": "X", "allowed_origins": "https://www.example.com"},
         {"allowed_origins": ['Expected a list of items but got type "str".']}),
        ({"name": "X", "fields": "email"},
         {"fields": {"non_field_errors": ['Expected a list of items but got type "str".']}}),
        ({"name": "X", "min_seconds": -1},
         {"min_seconds": ["Ensure this value is greater than or equal to 0."]}),
    ],
)
def test_bad_input_is_a_400_per_field_and_stores_nothing(marketer_api, body, errors):
    response = marketer_api.post(FORMS_URL, body, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert not Form.objects.exists()


def test_errors_of_several_fields_are_nested_per_index(marketer_api):
    response = marketer_api.post(FORMS_URL, {"name": "X", "fields": [
        ISSUE_BODY["fields"][0],
        {"name": "_secret"},
        {"name": "a", "maps_to": "company"},
        {"name": "b", "maps_to": "company"},
    ]}, format="json")

    assert response.status_code == 400
    assert response.json() == {"fields": {
        "1": {"name": ["Names starting with “_” are LeadHub's own."]},
        "3": {"maps_to": ["Field 3 already fills Company."]},
    }}


def test_malformed_json_is_a_400(marketer_api):
    response = marketer_api.post(FORMS_URL, '{"name": ', content_type="application/json")

    assert response.status_code == 400
    assert "detail" in response.json()


def test_it_lists_and_gets_forms(api_client_for, rep):
    live = FormFactory(with_fields=True, name="Live one")
    FormFactory(name="Draft one", status=FormStatus.DRAFT)
    api = api_client_for(rep)  # reps may read

    listed = api.get(FORMS_URL)
    only_live = api.get(FORMS_URL, {"status": "live"})
    one = api.get(form_url(live))

    assert listed.status_code == 200
    assert {f["name"] for f in listed.json()["results"]} == {"Live one", "Draft one"}
    assert [f["name"] for f in only_live.json()["results"]] == ["Live one"]
    assert one.json()["key"] == live.key
    assert [f["name"] for f in one.json()["fields"]] == ["email", "first_name", "company", "topic"]


def test_it_changes_settings_and_replaces_fields(marketer_api):
    form = FormFactory(with_fields=True, status=FormStatus.DRAFT)

    response = marketer_api.patch(form_url(form), {
        "name": "Renamed", "status": "live", "consent_text": "Email me.",
        "fields": [{"name": "consent", "type": "checkbox", "maps_to": "marketing_consent"},
                   ISSUE_BODY["fields"][0]],
    }, format="json")

    assert response.status_code == 200, response.json()
    form.refresh_from_db()
    assert (form.name, form.status, form.consent_version) == ("Renamed", "live", 1)
    assert [f["name"] for f in response.json()["fields"]] == ["consent", "email"]


def test_a_patch_without_fields_keeps_them(marketer_api):
    form = FormFactory(with_fields=True)

    response = marketer_api.patch(form_url(form), {"min_seconds": 0}, format="json")

    assert response.status_code == 200
    assert len(response.json()["fields"]) == 4
    assert response.json()["min_seconds"] == 0


def test_a_refused_update_changes_nothing(marketer_api):
    form = FormFactory(with_fields=True, name="Before")

    response = marketer_api.patch(form_url(form), {"name": "After", "fields": []}, format="json")

    assert response.status_code == 400
    assert response.json() == {"fields": {"non_field_errors": [
        "This form is live: it must keep its email field."]}}
    form.refresh_from_db()
    assert form.name == "Before" and form.fields.count() == 4


def test_deleting_a_form_without_submissions_deletes_it(marketer_api):
    form = FormFactory()

    response = marketer_api.delete(form_url(form))

    assert response.status_code == 204
    assert not Form.objects.exists()


def test_deleting_a_form_with_submissions_archives_it(marketer_api):
    form = FormFactory()
    SubmissionFactory(form=form)

    response = marketer_api.delete(form_url(form))

    assert response.status_code == 200
    assert response.json()["status"] == "archived"
    assert Submission.objects.get().form_id == form.pk


def test_reps_may_read_but_not_write(api_client_for, rep):
    form = FormFactory()
    api = api_client_for(rep)

    assert api.get(form_url(form)).status_code == 200
    assert api.post(FORMS_URL, {"name": "X"}, format="json").status_code == 403
    assert api.patch(form_url(form), {"name": "X"}, format="json").status_code == 403
    assert api.delete(form_url(form)).status_code == 403
    assert Form.objects.get().name == form.name


def test_admins_may_write(api_client_for, admin_user):
    response = api_client_for(admin_user).post(FORMS_URL, ISSUE_BODY, format="json")

    assert response.status_code == 201


def test_outsiders_may_not_even_read(api_client_for, outsider):
    form = FormFactory()

    assert api_client_for(outsider).get(FORMS_URL).status_code == 403
    assert api_client_for(outsider).get(form_url(form)).status_code == 403


def test_anonymous_requests_are_401(api_client_for):
    assert api_client_for().get(FORMS_URL).status_code == 401


def test_unknown_forms_are_a_json_404(marketer_api):
    assert marketer_api.get(form_url(999999)).status_code == 404
    response = marketer_api.get(f"{FORMS_URL}abc/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_the_schema_describes_the_forms_api(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert set(schema["paths"]["/api/v1/forms/"]) >= {"get", "post"}
    assert set(schema["paths"]["/api/v1/forms/{id}/"]) >= {"get", "put", "patch", "delete"}
    form = schema["components"]["schemas"]["Form"]["properties"]
    assert form["key"]["readOnly"]
    assert form["redirect_url"]["nullable"]
