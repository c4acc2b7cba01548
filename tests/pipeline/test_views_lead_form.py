"""/leads/new/ and /leads/<id>/edit/: crispy forms that write through the services,
with per-field errors and one transaction."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from capture.models import Activity, ActivityKind, Lead, Stage
from pipeline.models import StageTransition
from tests.factories import LeadFactory, PipelineSettingsFactory, SalesRepFactory

CREATE_URL = reverse("pipeline:lead_create")


def edit_url(lead) -> str:
    return reverse("pipeline:lead_update", args=[lead.pk])


def form_data(**overrides) -> dict:
    data = {
        "email": "new@example.com",
        "first_name": "Nina",
        "last_name": "New",
        "company": "Acme",
        "job_title": "CTO",
        "phone": "+1 555 0100",
        "website": "https://acme.example",
        "country": "Portugal",
        "industry": "Software",
        "company_size": "40",
        "attributes": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def lead_data(lead, **overrides) -> dict:
    """What the edit form posts back for ``lead`` when nothing is changed."""
    data = {
        "email": lead.email,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company": lead.company,
        "job_title": lead.job_title,
        "phone": lead.phone,
        "website": lead.website,
        "country": lead.country,
        "industry": lead.industry,
        "company_size": "" if lead.company_size is None else str(lead.company_size),
        "attributes": "",
    }
    if lead.marketing_consent:
        data["marketing_consent"] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def as_marketer(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def as_rep(client, rep):
    client.force_login(rep)
    return client


# --- Create --------------------------------------------------------------------------------


def test_it_shows_the_form_in_sections(as_marketer):
    html = as_marketer.get(CREATE_URL).content.decode()
    for legend in ("Contact", "Company", "Custom attributes", "Consent"):
        assert f"<legend>{legend}</legend>" in html or f">{legend}</legend>" in html
    assert 'name="email"' in html
    assert 'name="attributes"' in html
    assert "Pipeline</legend>" not in html
    assert 'name="stage"' not in html


def test_it_shows_the_pipeline_section_to_reps(as_rep):
    html = as_rep.get(CREATE_URL).content.decode()
    assert "Pipeline</legend>" in html
    for name in ("stage", "stage_reason", "owner"):
        assert f'name="{name}"' in html


def test_it_creates_a_lead_and_records_lead_created(as_marketer, marketer):
    response = as_marketer.post(
        CREATE_URL,
        form_data(attributes='{"plan": "pro", "seats": 12}', marketing_consent="on"),
    )
    lead = Lead.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("pipeline:lead_detail", args=[lead.pk])
    assert (lead.email, lead.first_name, lead.company, lead.company_size) == (
        "new@example.com", "Nina", "Acme", 40)
    assert lead.attributes == {"plan": "pro", "seats": 12}
    assert lead.marketing_consent and lead.consent_at is not None
    assert lead.source == "manual"
    activity = Activity.objects.get(lead=lead)
    assert activity.kind == ActivityKind.LEAD_CREATED
    assert activity.actor == marketer
    assert activity.data["source"] == "manual"
    followed = as_marketer.get(response["Location"])
    assert "created" in followed.content.decode()


def test_it_refuses_a_duplicate_email_in_another_case_with_a_field_error(as_marketer):
    LeadFactory(email="ann@example.com")
    response = as_marketer.post(
        CREATE_URL, form_data(email="  Ann@Example.COM ", first_name="Annie")
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["email"] == ["A lead with this email already exists."]
    assert "__all__" not in form.errors
    assert Lead.objects.count() == 1
    html = response.content.decode()
    assert 'value="Annie"' in html  # what was typed is kept
    assert "is-invalid" in html


def test_it_refuses_an_invalid_email(as_marketer):
    response = as_marketer.post(CREATE_URL, form_data(email="not-an-email"))
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["Enter a valid email address."]
    assert not Lead.objects.exists()


def test_it_requires_an_email(as_marketer):
    response = as_marketer.post(CREATE_URL, form_data(email=""))
    assert response.context["form"].errors["email"] == ["This field is required."]
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "Enter valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"just text"', "must be a JSON object"),
        ('{"address": {"city": "Porto"}}', "Attribute “address” must be text"),
        ('{"tags": [{"a": 1}]}', "Attribute “tags” must be text"),
        ('{"": 1}', "Attribute names must be 1 to 100 characters"),
    ],
)
def test_it_explains_bad_custom_attributes(as_marketer, text, message):
    response = as_marketer.post(CREATE_URL, form_data(attributes=text))
    assert response.status_code == 200
    errors = response.context["form"].errors["attributes"]
    assert any(message in e for e in errors), errors
    assert not Lead.objects.exists()
    # The text as typed stays in the box, to be fixed rather than retyped.
    assert escape(text) in response.content.decode()


def test_it_lets_a_rep_set_stage_and_owner_when_creating(as_rep, rep):
    response = as_rep.post(CREATE_URL, form_data(stage=Stage.MQL, owner=str(rep.pk)))
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert lead.stage == Stage.MQL
    assert lead.owner == rep
    assert StageTransition.objects.filter(lead=lead, from_stage="lead", to_stage="mql").exists()
    kinds = set(lead.activities.values_list("kind", flat=True))
    assert kinds == {"lead_created", "stage_changed", "owner_changed"}


def test_it_creates_nothing_when_the_stage_move_is_refused(as_rep):
    # Disqualifying needs a reason: the lead must not be created without its stage.
    response = as_rep.post(CREATE_URL, form_data(stage=Stage.DISQUALIFIED))
    assert response.status_code == 200
    assert "needs a reason" in response.context["form"].errors["stage"][0]
    assert not Lead.objects.exists()
    assert not Activity.objects.exists()


def test_it_forbids_creating_for_users_without_a_role(client, outsider):
    client.force_login(outsider)
    assert client.get(CREATE_URL).status_code == 403
    assert client.post(CREATE_URL, form_data()).status_code == 403
    assert not Lead.objects.exists()


def test_it_sends_anonymous_visitors_to_log_in(client, db):
    response = client.post(CREATE_URL, form_data())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Lead.objects.exists()


# --- Edit ----------------------------------------------------------------------------------


def test_it_updates_a_lead_and_records_what_changed(as_marketer, marketer):
    lead = LeadFactory(email="ann@example.com", job_title="Engineer", company="Acme")
    response = as_marketer.post(
        edit_url(lead), lead_data(lead, job_title="CTO", attributes='{"tier": "gold"}')
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("pipeline:lead_detail", args=[lead.pk])
    lead.refresh_from_db()
    assert lead.job_title == "CTO"
    assert lead.attributes == {"tier": "gold"}
    activity = Activity.objects.get(lead=lead, kind=ActivityKind.LEAD_UPDATED)
    assert activity.actor == marketer
    assert activity.data["changes"] == {
        "job_title": {"old": "Engineer", "new": "CTO"},
        "attributes": {"old": {}, "new": {"tier": "gold"}},
    }


def test_it_fills_the_edit_form_with_the_lead(as_marketer):
    lead = LeadFactory(email="ann@example.com", attributes={"plan": "pro"})
    html = as_marketer.get(edit_url(lead)).content.decode()
    assert 'value="ann@example.com"' in html
    assert "&quot;plan&quot;: &quot;pro&quot;" in html


def test_it_records_nothing_when_nothing_changed(as_marketer):
    lead = LeadFactory()
    response = as_marketer.post(edit_url(lead), lead_data(lead))
    assert response.status_code == 302
    assert not Activity.objects.filter(lead=lead).exists()


def test_it_refuses_changing_the_email_to_another_leads_email(as_marketer):
    LeadFactory(email="ann@example.com")
    bob = LeadFactory(email="bob@example.com", first_name="Bob")
    response = as_marketer.post(edit_url(bob), lead_data(bob, email=" ANN@example.com"))
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["A lead with this email already exists."]
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"
    # The page heading still names the lead as stored, not the rejected input.
    assert "Edit Bob" in response.content.decode()


def test_it_accepts_the_same_email_in_another_case_for_the_same_lead(as_marketer):
    ann = LeadFactory(email="ann@example.com")
    response = as_marketer.post(edit_url(ann), lead_data(ann, email="Ann@Example.com"))
    assert response.status_code == 302
    ann.refresh_from_db()
    assert ann.email == "Ann@Example.com"


def test_it_ignores_stage_and_owner_smuggled_in_by_a_marketer(as_marketer, rep):
    lead = LeadFactory(stage=Stage.LEAD, owner=None)
    response = as_marketer.post(
        edit_url(lead),
        lead_data(lead, job_title="Boss", stage=Stage.CUSTOMER, owner=str(rep.pk)),
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.job_title == "Boss"
    assert lead.stage == Stage.LEAD
    assert lead.owner is None
    assert not StageTransition.objects.exists()
    assert not lead.activities.filter(kind__in=["stage_changed", "owner_changed"]).exists()


def test_it_lets_a_rep_move_the_stage_with_a_reason_and_assign_an_owner(as_rep, rep):
    other = SalesRepFactory()
    lead = LeadFactory(stage=Stage.MQL, owner=None)
    response = as_rep.post(
        edit_url(lead),
        lead_data(lead, stage=Stage.LEAD, stage_reason="Student, no budget", owner=str(other.pk)),
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD
    assert lead.owner == other
    transition = StageTransition.objects.get(lead=lead)
    assert (transition.from_stage, transition.to_stage, transition.by_user) == ("mql", "lead", rep)
    assert transition.reason == "Student, no budget"
    stage_changed = lead.activities.get(kind=ActivityKind.STAGE_CHANGED)
    assert stage_changed.data["reason"] == "Student, no budget"
    assert lead.activities.get(kind=ActivityKind.OWNER_CHANGED).data["to"] == other.pk


def test_it_refuses_a_move_that_makes_no_sense_and_changes_nothing(as_rep):
    lead = LeadFactory(stage=Stage.CUSTOMER, job_title="Engineer")
    response = as_rep.post(edit_url(lead), lead_data(lead, job_title="CTO", stage=Stage.MQL))
    assert response.status_code == 200
    assert response.context["form"].errors["stage"] == [
        "A lead cannot move from Customer to MQL."]
    lead.refresh_from_db()
    assert lead.stage == Stage.CUSTOMER
    assert lead.job_title == "Engineer"  # the contact change was rolled back with it
    assert not lead.activities.exists()
    assert not StageTransition.objects.exists()
    assert 'value="CTO"' in response.content.decode()


def test_it_rolls_back_the_contact_change_when_the_service_refuses_the_move(
    as_rep, monkeypatch
):
    # The form's early check passes (as when another rep moved the lead meanwhile), so
    # the refusal comes from lead_change_stage, after lead_update already ran.
    monkeypatch.setattr("pipeline.forms.transition_refusal", lambda *args: None)
    lead = LeadFactory(stage=Stage.CUSTOMER, job_title="Engineer")
    response = as_rep.post(edit_url(lead), lead_data(lead, job_title="CTO", stage=Stage.MQL))
    assert response.status_code == 200
    assert response.context["form"].errors["stage"] == [
        "A lead cannot move from Customer to MQL."]
    lead.refresh_from_db()
    assert (lead.stage, lead.job_title) == (Stage.CUSTOMER, "Engineer")
    assert not lead.activities.exists()


def test_it_creates_nothing_when_the_service_refuses_the_stage(as_rep, monkeypatch):
    monkeypatch.setattr("pipeline.forms.transition_refusal", lambda *args: None)
    response = as_rep.post(CREATE_URL, form_data(stage=Stage.DISQUALIFIED))
    assert response.status_code == 200
    assert "needs a reason" in response.context["form"].errors["stage"][0]
    assert not Lead.objects.exists()
    assert not Activity.objects.exists()


def test_it_reports_a_refused_move_beside_other_errors(as_rep):
    LeadFactory(email="ann@example.com")
    response = as_rep.post(
        CREATE_URL, form_data(email="bad", attributes="[1]", stage=Stage.DISQUALIFIED)
    )
    errors = response.context["form"].errors
    assert set(errors) == {"email", "attributes", "stage"}


def test_it_forbids_editing_for_users_without_a_role(client, outsider):
    lead = LeadFactory(job_title="Engineer")
    client.force_login(outsider)
    assert client.get(edit_url(lead)).status_code == 403
    assert client.post(edit_url(lead), lead_data(lead, job_title="Hacked")).status_code == 403
    lead.refresh_from_db()
    assert lead.job_title == "Engineer"


def test_it_answers_404_when_editing_an_unknown_lead(as_marketer):
    assert as_marketer.get(reverse("pipeline:lead_update", args=[987654])).status_code == 404


# --- Another rep's lead ----------------------------------------------------------------------


def test_a_rep_cannot_move_or_reassign_another_reps_lead_from_its_edit_page(as_rep, rep):
    # The board refuses it; the edit page must not be the way around (off by default).
    theirs = SalesRepFactory()
    lead = LeadFactory(stage=Stage.MQL, owner=theirs, job_title="Engineer")

    page = as_rep.get(edit_url(lead))
    assert "stage" not in page.context["form"].fields
    assert "another rep" in page.content.decode()

    response = as_rep.post(
        edit_url(lead), lead_data(lead, job_title="CTO", stage=Stage.SQL, owner=str(rep.pk))
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.job_title == "CTO"  # contact fields stay editable
    assert (lead.stage, lead.owner) == (Stage.MQL, theirs)
    assert not StageTransition.objects.exists()


def test_the_pipeline_setting_lets_reps_move_each_others_leads_from_the_edit_page(as_rep, rep):
    PipelineSettingsFactory(reps_move_others_leads=True)
    lead = LeadFactory(stage=Stage.MQL, owner=SalesRepFactory())

    response = as_rep.post(edit_url(lead), lead_data(lead, stage=Stage.SQL, owner=str(rep.pk)))

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.stage, lead.owner) == (Stage.SQL, rep)


def test_an_admin_moves_any_reps_lead_from_the_edit_page(client, admin_user):
    client.force_login(admin_user)
    lead = LeadFactory(stage=Stage.MQL, owner=SalesRepFactory())

    response = client.post(edit_url(lead), lead_data(lead, stage=Stage.SQL))

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL


# --- Inline contact editing on the lead page ---------------------------------------------------

HTMX = {"HX-Request": "true"}


def contact_url(lead) -> str:
    return reverse("pipeline:lead_contact", args=[lead.pk])


def test_the_inline_editor_saves_only_what_changed_and_answers_the_fields(as_marketer):
    lead = LeadFactory(first_name="Ann", job_title="Engineer", company="Acme")
    form = as_marketer.get(contact_url(lead), headers=HTMX)
    assert 'data-testid="contact-form"' in form.content.decode()
    data = {name: getattr(lead, name) or "" for name in
            ("first_name", "last_name", "email", "phone", "job_title", "company", "website",
             "country", "industry")}
    data |= {"company_size": "", "job_title": "CTO <script>x</script>"}

    response = as_marketer.post(contact_url(lead), data, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="contact-saved"' in html
    assert "CTO &lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    lead.refresh_from_db()
    assert lead.job_title == "CTO <script>x</script>"
    [updated] = lead.activities.filter(kind=ActivityKind.LEAD_UPDATED)
    assert set(updated.data["changes"]) == {"job_title"}


def test_the_inline_editor_shows_errors_beside_fields_and_saves_nothing(as_marketer):
    LeadFactory(email="taken@example.com")
    lead = LeadFactory(email="mine@example.com", job_title="Engineer")
    data = {"email": "TAKEN@example.com ", "job_title": "CTO", "company_size": "-5"}

    response = as_marketer.post(contact_url(lead), data, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200  # htmx swaps 2xx only: the errors must show
    assert 'data-testid="contact-form"' in html and 'aria-invalid="true"' in html
    assert 'value="CTO"' in html
    lead.refresh_from_db()
    assert (lead.email, lead.job_title) == ("mine@example.com", "Engineer")
    assert not lead.activities.exists()
    dupe = as_marketer.post(contact_url(lead), {"email": "TAKEN@example.com ",
                                                "job_title": "CTO"}, headers=HTMX)
    assert "already exists" in dupe.content.decode()
    lead.refresh_from_db()
    assert lead.job_title == "Engineer"


def test_without_htmx_the_inline_editor_falls_back_to_pages(as_marketer):
    lead = LeadFactory()
    assert as_marketer.get(contact_url(lead))["Location"] == edit_url(lead)
    response = as_marketer.post(contact_url(lead), {"email": lead.email, "job_title": "CFO"})
    assert response["Location"] == reverse("pipeline:lead_detail", args=[lead.pk])
    lead.refresh_from_db()
    assert lead.job_title == "CFO"


def test_people_who_may_not_edit_leads_get_a_403(client, outsider):
    lead = LeadFactory()
    client.force_login(outsider)
    assert client.post(contact_url(lead), {"email": "x@example.com"},
                       headers=HTMX).status_code == 403
