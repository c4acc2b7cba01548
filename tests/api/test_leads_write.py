"""Create, retrieve, update and delete through /api/v1/leads/: writes go through the
services, leave an activity, and bad input is a per-field 400 that changes nothing."""

import pytest

from capture.models import Activity, ActivityKind, Grade, Lead, Stage
from pipeline.models import StageTransition
from tests.api.paths import LEADS_URL, lead_url
from tests.factories import LeadFactory, PipelineSettingsFactory, SalesRepFactory, UserFactory

pytestmark = pytest.mark.django_db

DUPLICATE = {"email": ["A lead with this email already exists."]}


def activities(lead, kind):
    return list(Activity.objects.filter(lead=lead, kind=kind).order_by("id"))


# --- Create ---------------------------------------------------------------------------------


def test_it_creates_a_lead_through_the_service(marketer_api, marketer):
    response = marketer_api.post(
        LEADS_URL,
        {
            "email": "  Ann@Example.com ",
            "first_name": "Ann",
            "last_name": "Lee",
            "company": "Acme",
            "job_title": "CTO",
            "phone": "+1 555 0100",
            "website": "https://acme.example",
            "country": "NL",
            "industry": "Software",
            "company_size": 40,
            "attributes": {"plan": "pro", "seats": 12},
            "marketing_consent": True,
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    lead = Lead.objects.get()
    assert body["id"] == lead.pk
    assert response["Location"].endswith(lead_url(lead))
    assert lead.email == "Ann@Example.com"  # trimmed; case kept for display
    assert (lead.first_name, lead.company, lead.company_size) == ("Ann", "Acme", 40)
    assert lead.attributes == {"plan": "pro", "seats": 12}
    assert lead.source == body["source"] == "api"
    assert lead.stage == body["stage"] == Stage.LEAD
    assert lead.marketing_consent and lead.consent_at is not None
    assert body["consent_at"] is not None
    assert body["first_touch"] == {
        "utm_source": "", "utm_medium": "", "utm_campaign": "", "utm_term": "",
        "utm_content": "", "referrer": "", "landing_url": ""}
    [created] = activities(lead, ActivityKind.LEAD_CREATED)
    assert created.actor == marketer
    assert created.data["source"] == "api"
    assert created.data["fields"]["email"] == "Ann@Example.com"
    assert created.data["fields"]["company_size"] == 40


def test_it_ignores_score_grade_and_other_read_only_fields_on_create(marketer_api):
    response = marketer_api.post(
        LEADS_URL,
        {
            "email": "ann@example.com",
            "score": 99,
            "grade": "A",
            "source": "forged",
            "id": 12345,
            "consent_at": "2020-01-01T00:00:00Z",
            "first_touch": {"utm_source": "forged"},
            "created_at": "2020-01-01T00:00:00Z",
        },
    )

    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert (lead.score, lead.grade, lead.source) == (0, "", "api")
    assert lead.pk != 12345
    assert lead.consent_at is None and lead.first_utm_source == ""
    assert lead.created_at.year != 2020
    body = response.json()
    assert (body["score"], body["grade"], body["source"]) == (0, "", "api")


@pytest.mark.parametrize("email", ["Ann@Example.com ", " ANN@EXAMPLE.COM", "ann@example.com"])
def test_it_refuses_a_second_lead_for_an_email_in_other_case_or_spaces(marketer_api, email):
    LeadFactory(email="ann@example.com")

    response = marketer_api.post(LEADS_URL, {"email": email, "first_name": "Ann"})

    assert response.status_code == 400
    assert response.json() == DUPLICATE
    assert Lead.objects.count() == 1
    assert not Activity.objects.filter(kind=ActivityKind.LEAD_CREATED).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a" * 250 + "@x.io"}, "email"),
        ({"first_name": "Ann"}, "email"),
        ({"email": "ann@example.com", "company_size": -1}, "company_size"),
        ({"email": "ann@example.com", "company_size": 2**31}, "company_size"),
        ({"email": "ann@example.com", "company_size": "many"}, "company_size"),
        ({"email": "ann@example.com", "attributes": ["a", "b"]}, "attributes"),
        ({"email": "ann@example.com", "attributes": "plan=pro"}, "attributes"),
        ({"email": "ann@example.com", "attributes": {"": 1}}, "attributes"),
        ({"email": "ann@example.com", "attributes": {"plan": {"nested": 1}}}, "attributes"),
        ({"email": "ann@example.com", "attributes": {"k": "nul\x00"}}, "attributes"),
        ({"email": "ann@example.com", "attributes": {"k": ["a", ["b\x00"]]}}, "attributes"),
        ({"email": "ann@example.com", "attributes": {"k": [[[[[[[[[[[1]]]]]]]]]]]}},
         "attributes"),
        ({"email": "ann@example.com", "website": "not a url"}, "website"),
        ({"email": "ann@example.com", "first_name": "x" * 151}, "first_name"),
        ({"email": "ann@example.com", "phone": "tel\x00"}, "phone"),
        ({"email": "ann@example.com", "stage": "won"}, "stage"),
        ({"email": "ann@example.com", "owner": "sam"}, "owner"),
        ({"email": "ann@example.com", "owner": 987654}, "owner"),
        ({"email": "ann@example.com", "marketing_consent": "perhaps"}, "marketing_consent"),
    ],
)
def test_it_answers_bad_input_with_a_400_per_field_and_creates_nothing(
    admin_api, payload, field
):
    response = admin_api.post(LEADS_URL, payload)

    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == [field]
    assert isinstance(body[field], list) and all(isinstance(m, str) for m in body[field])
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        '{"email": "ann@',
        '{"email": "ann@example.com", "company_size": NaN}',
        # Deeper than Python's JSON decoder can go: RecursionError, not ValueError.
        '{"email": "ann@example.com", "attributes": {"k": ' + "[" * 100_000 + "]" * 100_000
        + "}}",
    ],
)
def test_it_answers_unreadable_json_with_a_400(marketer_api, body):
    response = marketer_api.post(LEADS_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()) == ["detail"]
    assert response.json()["detail"].startswith("JSON parse error")
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(
    "attributes",
    ['{"k": "\\ud800"}', '{"\\udfff": 1}', '{"k": ["\\u0000"]}'],
)
def test_it_refuses_attribute_text_the_database_cannot_store(marketer_api, attributes):
    body = '{"email": "ann@example.com", "attributes": ' + attributes + "}"

    response = marketer_api.post(LEADS_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()) == ["attributes"]
    assert Lead.objects.count() == 0


def test_it_refuses_numbers_json_cannot_carry_back(marketer_api):
    # 1e999 parses as infinity: storable on neither database, and not valid JSON to send.
    body = '{"email": "ann@example.com", "attributes": {"big": 1e999}}'

    response = marketer_api.post(LEADS_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"attributes": ["Numbers must be finite."]}


def test_it_accepts_only_json(marketer_api):
    form = marketer_api.post(LEADS_URL, {"email": "ann@example.com"}, format="multipart")

    assert form.status_code == 415
    assert Lead.objects.count() == 0


def test_it_lets_a_rep_create_a_lead_in_a_later_stage_with_an_owner(rep_api, rep):
    response = rep_api.post(
        LEADS_URL, {"email": "ann@example.com", "stage": "sql", "owner": rep.pk}
    )

    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert (lead.stage, lead.owner) == (Stage.SQL, rep)
    assert response.json()["stage"] == "sql" and response.json()["owner"] == rep.pk
    transition = StageTransition.objects.get(lead=lead)
    assert (transition.from_stage, transition.to_stage, transition.by_user) == (
        Stage.LEAD, Stage.SQL, rep)
    assert [a.kind for a in Activity.objects.filter(lead=lead).order_by("id")] == [
        ActivityKind.LEAD_CREATED, ActivityKind.STAGE_CHANGED, ActivityKind.OWNER_CHANGED]


def test_it_leaves_no_lead_behind_when_the_stage_of_a_create_is_refused(rep_api):
    # Disqualifying needs a reason: the lead is created first, then the move is refused.
    response = rep_api.post(LEADS_URL, {"email": "ann@example.com", "stage": "disqualified"})

    assert response.status_code == 400
    assert list(response.json()) == ["stage"]
    assert "reason" in response.json()["stage"][0]
    assert Lead.objects.count() == 0
    assert Activity.objects.count() == 0


def test_it_records_the_stage_reason_given_on_create(rep_api):
    response = rep_api.post(
        LEADS_URL,
        {"email": "ann@example.com", "stage": "disqualified", "stage_reason": "Student"},
    )

    assert response.status_code == 201, response.content
    assert StageTransition.objects.get().reason == "Student"
    assert "stage_reason" not in response.json()


def test_it_forbids_a_marketer_to_create_a_lead_in_a_stage_or_with_an_owner(
    marketer_api, rep
):
    staged = marketer_api.post(LEADS_URL, {"email": "ann@example.com", "stage": "mql"})
    owned = marketer_api.post(LEADS_URL, {"email": "ann@example.com", "owner": rep.pk})

    assert staged.status_code == owned.status_code == 403
    assert "leadhub.work_pipeline" in staged.json()["detail"]
    assert "stage" in staged.json()["detail"] and "owner" in owned.json()["detail"]
    assert Lead.objects.count() == 0


def test_it_lets_a_marketer_send_the_default_stage_and_no_owner(marketer_api):
    response = marketer_api.post(
        LEADS_URL, {"email": "ann@example.com", "stage": "lead", "owner": None}
    )

    assert response.status_code == 201


# --- Retrieve -------------------------------------------------------------------------------


def test_it_shows_one_lead(marketer_api, rep):
    lead = LeadFactory(
        email="ann@example.com", owner=rep, score=42, grade=Grade.A,
        first_utm_source="newsletter", last_referrer="https://news.example/",
        attributes={"plan": "pro"},
    )

    response = marketer_api.get(lead_url(lead))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == lead.pk
    assert (body["email"], body["owner"], body["score"], body["grade"]) == (
        "ann@example.com", rep.pk, 42, "A")
    assert body["first_touch"]["utm_source"] == "newsletter"
    assert body["last_touch"]["referrer"] == "https://news.example/"
    assert body["attributes"] == {"plan": "pro"}


def test_it_answers_404_for_a_missing_lead(marketer_api):
    assert marketer_api.get(lead_url(999999)).status_code == 404
    assert marketer_api.patch(lead_url(999999), {"first_name": "X"}).status_code == 404


def test_it_reads_leads_only_through_visible_to(marketer_api, monkeypatch):
    from capture.models import LeadQuerySet

    hidden = LeadFactory()
    shown = LeadFactory()
    original = LeadQuerySet.visible_to
    monkeypatch.setattr(
        LeadQuerySet, "visible_to", lambda self, user: original(self, user).exclude(pk=hidden.pk)
    )

    assert marketer_api.get(lead_url(hidden)).status_code == 404
    assert marketer_api.patch(lead_url(hidden), {"first_name": "X"}).status_code == 404
    assert [row["id"] for row in marketer_api.get(LEADS_URL).json()["results"]] == [shown.pk]


# --- Update ---------------------------------------------------------------------------------


def test_it_updates_contact_fields_and_records_what_changed(marketer_api, marketer):
    lead = LeadFactory(email="ann@example.com", first_name="Ann", company="Acme")

    response = marketer_api.patch(
        lead_url(lead), {"first_name": "Anna", "company": "Acme", "company_size": 12}
    )

    assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert (lead.first_name, lead.company_size) == ("Anna", 12)
    assert response.json()["first_name"] == "Anna"
    [updated] = activities(lead, ActivityKind.LEAD_UPDATED)
    assert updated.actor == marketer
    assert updated.data["changes"] == {
        "first_name": {"old": "Ann", "new": "Anna"},
        "company_size": {"old": None, "new": 12},
    }


def test_it_replaces_a_lead_with_put(marketer_api):
    lead = LeadFactory(email="ann@example.com", first_name="Ann", stage=Stage.MQL)
    body = marketer_api.get(lead_url(lead)).json()
    body.update(first_name="Anna", email="anna@example.com")

    # The full representation sends back stage, owner and read-only fields unchanged:
    # that is not a pipeline move, so a marketer may PUT it.
    response = marketer_api.put(lead_url(lead), body)

    assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert (lead.first_name, lead.email, lead.stage) == ("Anna", "anna@example.com", "mql")
    [updated] = activities(lead, ActivityKind.LEAD_UPDATED)
    assert set(updated.data["changes"]) == {"first_name", "email"}


def test_it_needs_the_email_on_put(marketer_api):
    lead = LeadFactory()

    response = marketer_api.put(lead_url(lead), {"first_name": "Anna"})

    assert response.status_code == 400
    assert list(response.json()) == ["email"]


def test_it_ignores_score_grade_and_source_on_update(marketer_api):
    lead = LeadFactory(score=7, grade=Grade.C, source="webinar")

    response = marketer_api.patch(
        lead_url(lead), {"score": 100, "grade": "A", "source": "forged", "consent_at": None}
    )

    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.score, lead.grade, lead.source) == (7, "C", "webinar")
    assert (response.json()["score"], response.json()["grade"]) == (7, "C")
    assert not activities(lead, ActivityKind.LEAD_UPDATED)


def test_it_writes_no_activity_when_nothing_changed(marketer_api):
    lead = LeadFactory(first_name="Ann")

    response = marketer_api.patch(lead_url(lead), {"first_name": "Ann"})

    assert response.status_code == 200
    assert not activities(lead, ActivityKind.LEAD_UPDATED)


@pytest.mark.parametrize("email", [" ANN@example.com", "Ann@Example.COM"])
def test_it_refuses_to_change_an_email_to_another_leads(marketer_api, email):
    LeadFactory(email="ann@example.com")
    bob = LeadFactory(email="bob@example.com")

    response = marketer_api.patch(lead_url(bob), {"email": email})

    assert response.status_code == 400
    assert response.json() == DUPLICATE
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"


def test_it_lets_a_lead_change_the_case_of_its_own_email(marketer_api):
    lead = LeadFactory(email="ann@example.com")

    response = marketer_api.patch(lead_url(lead), {"email": "Ann@Example.com"})

    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.email == "Ann@Example.com"


def test_it_answers_bad_update_input_per_field_and_changes_nothing(marketer_api):
    lead = LeadFactory(first_name="Ann", company_size=5)

    response = marketer_api.patch(
        lead_url(lead), {"first_name": "Anna", "company_size": -3, "attributes": [1]}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"company_size", "attributes"}
    lead.refresh_from_db()
    assert (lead.first_name, lead.company_size) == ("Ann", 5)


# --- Stage and owner ------------------------------------------------------------------------


def test_it_lets_a_rep_move_a_lead_to_another_stage(rep_api, rep):
    lead = LeadFactory(stage=Stage.MQL)

    response = rep_api.patch(lead_url(lead), {"stage": "sql", "stage_reason": "Has budget"})

    assert response.status_code == 200, response.content
    assert response.json()["stage"] == "sql"
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    transition = StageTransition.objects.get(lead=lead)
    assert (transition.from_stage, transition.to_stage) == (Stage.MQL, Stage.SQL)
    assert (transition.by_user, transition.reason) == (rep, "Has budget")
    [moved] = activities(lead, ActivityKind.STAGE_CHANGED)
    assert moved.actor == rep and moved.data["to"] == "sql"


def test_it_refuses_a_move_the_pipeline_does_not_allow_and_changes_nothing(rep_api):
    lead = LeadFactory(stage=Stage.CUSTOMER, first_name="Ann")

    response = rep_api.patch(lead_url(lead), {"stage": "mql", "first_name": "Anna"})

    assert response.status_code == 400
    assert response.json() == {"stage": ["A lead cannot move from Customer to MQL."]}
    lead.refresh_from_db()
    # The name change ran before the refused move, in the same transaction: rolled back.
    assert (lead.stage, lead.first_name) == (Stage.CUSTOMER, "Ann")
    assert not StageTransition.objects.filter(lead=lead).exists()
    assert not Activity.objects.filter(lead=lead).exists()


def test_it_forbids_a_marketer_to_move_a_stage_or_change_an_owner(marketer_api, rep):
    lead = LeadFactory(stage=Stage.MQL, first_name="Ann")

    staged = marketer_api.patch(lead_url(lead), {"stage": "sql", "first_name": "Anna"})
    owned = marketer_api.patch(lead_url(lead), {"owner": rep.pk})

    assert staged.status_code == owned.status_code == 403
    assert staged.json()["detail"] == (
        "Changing a lead's stage needs the “leadhub.work_pipeline” permission "
        "(sales reps and admins)."
    )
    assert "owner" in owned.json()["detail"]
    lead.refresh_from_db()
    assert (lead.stage, lead.owner, lead.first_name) == (Stage.MQL, None, "Ann")
    assert not Activity.objects.filter(lead=lead).exists()


def test_it_lets_a_rep_assign_and_unassign_an_owner(rep_api, rep):
    lead = LeadFactory(owner=None)

    assigned = rep_api.patch(lead_url(lead), {"owner": rep.pk})
    lead.refresh_from_db()
    assert assigned.status_code == 200 and assigned.json()["owner"] == rep.pk
    assert lead.owner == rep

    unassigned = rep_api.patch(lead_url(lead), {"owner": None})
    lead.refresh_from_db()
    assert unassigned.status_code == 200 and unassigned.json()["owner"] is None
    assert lead.owner is None
    assert [a.data["to"] for a in activities(lead, ActivityKind.OWNER_CHANGED)] == [rep.pk, None]


def test_it_refuses_an_owner_who_does_not_exist_or_is_deactivated(rep_api):
    lead = LeadFactory(owner=None)
    gone = UserFactory(is_active=False)

    for owner in (gone.pk, 987654, -1, True, "1.5"):
        response = rep_api.patch(lead_url(lead), {"owner": owner})
        assert response.status_code == 400, owner
        assert list(response.json()) == ["owner"]
    lead.refresh_from_db()
    assert lead.owner is None


# --- Delete ---------------------------------------------------------------------------------


def test_it_lets_an_admin_delete_a_lead_and_its_timeline(admin_api):
    lead = LeadFactory()
    Activity.objects.create(lead=lead, kind=ActivityKind.NOTE_ADDED)

    response = admin_api.delete(lead_url(lead))

    assert response.status_code == 204
    assert not Lead.objects.filter(pk=lead.pk).exists()
    assert not Activity.objects.filter(lead_id=lead.pk).exists()
    assert admin_api.delete(lead_url(lead)).status_code == 404


@pytest.mark.parametrize("who", ["marketer", "rep"])
def test_it_forbids_others_to_delete_a_lead(request, api_client_for, who):
    lead = LeadFactory()
    api = api_client_for(request.getfixturevalue(who))

    response = api.delete(lead_url(lead))

    assert response.status_code == 403
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_it_forbids_a_rep_to_move_or_reassign_another_reps_lead(rep_api, rep):
    # The board's rule (pipeline settings, off by default) holds for the API too.
    theirs = SalesRepFactory()
    lead = LeadFactory(stage=Stage.MQL, owner=theirs, first_name="Ann")

    staged = rep_api.patch(lead_url(lead), {"stage": "sql", "first_name": "Anna"})
    owned = rep_api.patch(lead_url(lead), {"owner": rep.pk})
    named = rep_api.patch(lead_url(lead), {"first_name": "Anna"})

    assert staged.status_code == owned.status_code == 403
    assert "another rep" in staged.json()["detail"]
    assert named.status_code == 200  # contact fields stay editable
    lead.refresh_from_db()
    assert (lead.stage, lead.owner, lead.first_name) == (Stage.MQL, theirs, "Anna")
    assert not StageTransition.objects.filter(lead=lead).exists()


def test_the_pipeline_setting_lets_a_rep_move_another_reps_lead(rep_api):
    PipelineSettingsFactory(reps_move_others_leads=True)
    lead = LeadFactory(stage=Stage.MQL, owner=SalesRepFactory())

    assert rep_api.patch(lead_url(lead), {"stage": "sql"}).status_code == 200
