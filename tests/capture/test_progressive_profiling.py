"""Progressive profiling: which fields a returning visitor sees (capture.profiling), and
the hosted page and landing pages using it for the visitor's cookie."""

import json
import re
from dataclasses import dataclass

import pytest

from capture.models import Lead, Submission, Visitor
from capture.profiling import fields_to_show, known_values
from capture.services import visitor_sign, visitor_unsign
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
    """The fields a visitor sees: every field is drawn, those not shown hidden."""
    rows = dict(re.findall(r'<div data-lh-field="([^"]+)"( hidden)?>', html))
    assert set(rows) == {"email", "first_name", "company", "topic", "job"}, rows
    return {name for name, hidden in rows.items() if not hidden}


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


def test_fields_not_shown_are_drawn_hidden_and_disabled_for_the_script_to_show(client, profiled):
    html = client.get(f"/f/{profiled.key}/").content.decode()

    row = re.search(r'<div data-lh-field="company" hidden><fieldset disabled>(.*?)</fieldset>',
                    html, re.S)
    assert row and 'name="company"' in row.group(1)  # a disabled input posts nothing
    assert '<div data-lh-field="first_name">' in html
    assert f'data-lh-fields="/f/{profiled.key}/fields/"' in html
    assert f'id="lh-{profiled.key}-email" data-lh-email' in html


def test_a_form_without_profiling_gives_the_script_nothing_to_ask(client, db):
    form = FormFactory(with_fields=True)

    html = client.get(f"/f/{form.key}/").content.decode()

    assert "data-lh-fields" not in html and " hidden>" not in html


def _post_and_follow_up(client, form, data, callbacks):
    with callbacks(execute=True):  # the follow-up task links the visitor to the lead
        return client.post(f"/f/{form.key}/", data)


def test_a_post_on_the_hosted_page_sets_the_visitor_cookie_and_the_next_visit_knows_them(
    client, profiled, django_capture_on_commit_callbacks
):
    assert field_names(client.get(f"/f/{profiled.key}/").content.decode(), profiled) == {
        "email", "first_name"}

    response = _post_and_follow_up(client, profiled, {"email": "ann@example.com",
                                                      "first_name": "Ann"},
                                   django_capture_on_commit_callbacks)

    assert response.status_code == 303
    cookie = response.cookies["lh_vid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert cookie["max-age"] == 365 * 24 * 3600
    assert not cookie["secure"]  # plain http here; see the next test
    visitor_id = visitor_unsign(cookie.value)  # signed like the ids /t.js keeps
    lead = Lead.objects.get(email="ann@example.com")
    assert Visitor.objects.get(pk=visitor_id).lead == lead
    # The test client keeps the cookie, as a browser does.
    html = client.get(f"/f/{profiled.key}/").content.decode()
    assert field_names(html, profiled) == {"email", "company"}
    assert "Ann" not in html


def test_the_cookie_is_secure_where_leadhub_runs_on_https(client, profiled, settings):
    settings.SESSION_COOKIE_SECURE = True

    response = client.post(f"/f/{profiled.key}/", {"email": "ann@example.com"})

    assert response.cookies["lh_vid"]["secure"]


def test_a_landing_page_knows_the_visitor_after_a_post_from_it(
    client, profiled, django_capture_on_commit_callbacks
):
    page_create(slug="p", title="P", status="live", variant={"headline": "H", "form": profiled})
    client.get("/p/p/")

    _post_and_follow_up(client, profiled, {"email": "ann@example.com", "first_name": "Ann",
                                           "company": "Acme"},
                        django_capture_on_commit_callbacks)

    assert field_names(client.get("/p/p/").content.decode(), profiled) == {"email", "topic"}


def test_a_visitor_cookie_we_signed_is_kept_and_a_forged_one_replaced(
    client, profiled, django_capture_on_commit_callbacks
):
    known = visitor_sign(VisitorFactory().id)
    client.cookies["lh_vid"] = known
    kept = _post_and_follow_up(client, profiled, {"email": "ann@example.com"},
                               django_capture_on_commit_callbacks)
    client.cookies["lh_vid"] = "forged"
    replaced = _post_and_follow_up(client, profiled, {"email": "bob@example.com"},
                                   django_capture_on_commit_callbacks)

    assert "lh_vid" not in kept.cookies  # already there: nothing to set
    assert Visitor.objects.get(pk=visitor_unsign(known)).lead.email == "ann@example.com"
    assert visitor_unsign(replaced.cookies["lh_vid"].value) is not None


def test_a_post_filed_as_spam_gets_a_cookie_too_but_it_names_nobody(
    client, profiled, django_capture_on_commit_callbacks
):
    response = _post_and_follow_up(client, profiled, {"email": "bot@example.com",
                                                      "lh_url": "http://spam"},
                                   django_capture_on_commit_callbacks)

    assert response.status_code == 303 and "lh_vid" in response.cookies  # bots learn nothing
    assert Submission.objects.get().is_spam
    assert not Visitor.objects.exists()
