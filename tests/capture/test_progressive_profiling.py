"""Progressive profiling: which fields a returning visitor sees (capture.profiling), and
the hosted page and landing pages using it for the visitor's cookie."""

import json
import re
from dataclasses import dataclass

import pytest

from capture.models import Lead
from capture.profiling import fields_to_show, known_values
from capture.services import visitor_sign
from capture.services.pages import page_create
from tests.factories import FormFactory, FormFieldFactory, LeadFactory, VisitorFactory


@dataclass
class F:
    name: str
    maps_to: str = ""
    type: str = "text"
    required: bool = False


EMAIL = F("email", "email", "email", True)
FORM = [EMAIL, F("first_name", "first_name"), F("company", "company"), F("job", "job_title"),
        F("size", "company_size", "number"), F("topic", "attributes.topic", "select")]


def test_a_new_visitor_sees_the_first_fields_up_to_the_cap():
    assert fields_to_show(FORM, known=None, max_fields=3) == ["email", "first_name", "company"]


def test_without_a_cap_every_unknown_field_shows():
    assert fields_to_show(FORM, known={}, max_fields=None) == [f.name for f in FORM]


def test_known_fields_are_skipped_for_the_next_unanswered_ones():
    known = {"email": "a@example.com", "first_name": "Ann", "company": "Acme"}

    assert fields_to_show(FORM, known=known, max_fields=3) == ["email", "job", "size"]


def test_custom_attributes_count_as_known_too():
    known = {"first_name": "Ann", "company": "Acme", "job_title": "CTO", "company_size": 40,
             "attributes.topic": "a"}

    assert fields_to_show(FORM, known=known, max_fields=3) == ["email"]


def test_blank_values_are_not_known():
    known = {"first_name": "", "company": None, "attributes.topic": []}

    assert fields_to_show(FORM, known=known, max_fields=2) == ["email", "first_name"]


def test_the_email_field_always_shows_even_when_the_cap_is_one():
    assert fields_to_show(FORM, known={"email": "a@example.com"}, max_fields=1) == ["email"]


def test_required_fields_always_show_and_count_against_the_cap():
    form = [F("company", "company", required=True), EMAIL, F("first_name", "first_name"),
            F("phone", "phone", required=True), F("job", "job_title")]

    shown = fields_to_show(form, known={"company": "Acme", "phone": "+44"}, max_fields=3)

    assert shown == ["company", "email", "phone"]


def test_hidden_fields_always_go_along_and_do_not_count():
    form = [F("campaign", "attributes.campaign", "hidden"), EMAIL, F("first_name", "first_name"),
            F("company", "company")]

    assert fields_to_show(form, known={"attributes.campaign": "x"}, max_fields=2) == [
        "campaign", "email", "first_name"]


def test_consent_shows_until_given_and_does_not_count():
    form = [EMAIL, F("consent", "marketing_consent", "checkbox"), F("first_name", "first_name"),
            F("company", "company")]

    assert fields_to_show(form, known={}, max_fields=2) == ["email", "consent", "first_name"]
    assert fields_to_show(form, known={"marketing_consent": True}, max_fields=2) == [
        "email", "first_name"]


def test_fields_stored_only_on_the_submission_are_never_known():
    form = [EMAIL, F("message", "", "textarea"), F("first_name", "first_name")]

    assert fields_to_show(form, known={"first_name": "Ann"}, max_fields=None) == [
        "email", "message"]


def test_known_values_reads_the_lead_fields_and_attributes():
    lead = Lead(email="a@example.com", first_name="Ann", company_size=12,
                attributes={"topic": "a"})

    known = known_values(lead)

    assert known["first_name"] == "Ann"
    assert known["company_size"] == 12
    assert known["attributes.topic"] == "a"
    assert known_values(None) == {}


# --- On LeadHub's own pages ---------------------------------------------------------------


@pytest.fixture
def profiled(db):
    form = FormFactory(with_fields=True, progressive_profiling=True, max_fields=2, min_seconds=0)
    FormFieldFactory(form=form, name="job", maps_to="job_title", label="Job", position=4)
    return form


def field_names(html: str, form) -> set[str]:
    return {name for name in ("email", "first_name", "company", "topic", "job")
            if f'id="lh-{form.key}-{name}"' in html}


def test_the_hosted_page_shows_a_new_visitor_the_first_fields(client, profiled):
    html = client.get(f"/f/{profiled.key}/").content.decode()

    assert field_names(html, profiled) == {"email", "first_name"}


def test_the_hosted_page_shows_a_known_visitor_the_next_fields(client, profiled):
    lead = LeadFactory(first_name="Ann", company="Acme", job_title="")
    client.cookies["lh_vid"] = visitor_sign(VisitorFactory(lead=lead).id)

    html = client.get(f"/f/{profiled.key}/").content.decode()

    assert field_names(html, profiled) == {"email", "topic"}
    assert "Ann" not in html and "Acme" not in html  # never prefilled


def test_a_forged_visitor_cookie_is_a_new_visitor(client, profiled):
    lead = LeadFactory(first_name="Ann", company="Acme")
    client.cookies["lh_vid"] = f"{VisitorFactory(lead=lead).id}:forged"

    html = client.get(f"/f/{profiled.key}/").content.decode()

    assert field_names(html, profiled) == {"email", "first_name"}


def test_a_landing_page_uses_it_too(client, profiled):
    page_create(slug="p", title="P", status="live", variant={"headline": "H", "form": profiled})
    lead = LeadFactory(first_name="Ann", company="")
    client.cookies["lh_vid"] = visitor_sign(VisitorFactory(lead=lead).id)

    html = client.get("/p/p/").content.decode()

    assert field_names(html, profiled) == {"email", "company"}


def test_a_post_without_the_hidden_fields_keeps_what_the_lead_had(client, profiled):
    lead = LeadFactory(email="ann@example.com", first_name="Ann", company="Acme")
    client.cookies["lh_vid"] = visitor_sign(VisitorFactory(lead=lead).id)

    response = client.post(f"/f/{profiled.key}/", {"email": "ann@example.com", "topic": "b"})

    assert response.status_code == 303
    lead.refresh_from_db()
    assert (lead.first_name, lead.company, lead.attributes) == ("Ann", "Acme", {"topic": "b"})


def test_the_embed_starts_with_the_new_visitor_fields(client, profiled):
    body = client.get(f"/f/{profiled.key}/embed.js").content.decode()
    config = json.loads(re.search(r"\nlhEmbed\((\{.*\}), null\);", body, re.S).group(1))

    assert config["profiling"] is True
    assert config["show"] == ["email", "first_name"]
    assert [f["name"] for f in config["fields"]] == ["email", "first_name", "company", "topic",
                                                      "job"]
