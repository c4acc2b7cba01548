"""capture.services.forms: every rule a form and its fields follow, and each refusal."""

import pytest
from django.core.exceptions import ValidationError

from capture.models import FieldType, Form, FormField, FormStatus
from capture.services import (
    form_archive,
    form_create,
    form_delete,
    form_duplicate,
    form_publish,
    form_set_fields,
    form_unpublish,
    form_update,
)
from tests.factories import FormFactory, LandingPageVariantFactory, SubmissionFactory

pytestmark = pytest.mark.django_db

EMAIL = {"name": "email", "type": "email", "required": True, "maps_to": "email"}


def errors_of(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


def field_names(form) -> list[str]:
    return list(form.fields.order_by("position").values_list("name", flat=True))


# --- Creating -------------------------------------------------------------------------------


def test_it_creates_a_draft_form_with_its_email_field(marketer):
    form = form_create(name="  Ebook  ", actor=marketer)

    assert (form.name, form.status, form.created_by) == ("Ebook", FormStatus.DRAFT, marketer)
    email = form.fields.get()
    assert (email.name, email.type, email.required, email.maps_to, email.position) == (
        "email", FieldType.EMAIL, True, "email", 0)
    assert len(form.key) >= 16


def test_it_creates_the_issues_example_form():
    form = form_create(
        name="Ebook", status="live", allowed_origins=["https://www.example.com"],
        thank_you_message="Thanks!", redirect_url=None,
        fields=[EMAIL,
                {"name": "first_name", "type": "text", "maps_to": "first_name"},
                {"name": "company", "type": "text", "maps_to": "company"},
                {"name": "topic", "type": "select", "options": ["a", "b"],
                 "maps_to": "attributes.topic"}],
    )

    assert form.status == FormStatus.LIVE
    assert form.redirect_url == ""
    assert field_names(form) == ["email", "first_name", "company", "topic"]
    assert form.fields.get(name="topic").options == ["a", "b"]


def test_a_refused_create_writes_nothing():
    errors = errors_of(lambda: form_create(name="X", fields=[{"name": "first_name"}]))

    assert "fields" in errors
    assert not Form.objects.exists()
    assert not FormField.objects.exists()


def test_it_refuses_a_form_without_a_name():
    assert errors_of(lambda: form_create(name="   "))["name"] == ["Give the form a name."]


def test_it_refuses_an_unknown_status():
    assert "status" in errors_of(lambda: form_create(name="X", status="published"))


# --- The email field ------------------------------------------------------------------------


def test_it_refuses_to_remove_the_email_field():
    form = form_create(name="X")

    errors = errors_of(lambda: form_set_fields(form=form, fields=[{"name": "company"}]))

    assert errors["fields"] == [
        "A form needs its email field (it is how a submission finds its lead)."]
    assert field_names(form) == ["email"]


def test_a_live_form_cannot_lose_its_email_field():
    form = form_create(name="X", status="live")

    errors = errors_of(lambda: form_set_fields(form=form, fields=[]))

    assert errors["fields"] == ["This form is live: it must keep its email field."]


def test_it_refuses_to_make_the_email_field_optional():
    form = form_create(name="X")

    errors = errors_of(lambda: form_set_fields(form=form, fields=[{**EMAIL, "required": False}]))

    assert errors["fields.0.required"] == ["The email field is always required."]


def test_it_refuses_a_second_email_field():
    errors = errors_of(lambda: form_create(name="X", fields=[
        EMAIL, {"name": "work_email", "type": "email", "maps_to": ""}]))

    assert errors["fields.1.type"][0].startswith("A form has exactly one email field")


def test_the_email_field_always_fills_the_leads_email():
    errors = errors_of(lambda: form_create(name="X", fields=[{**EMAIL, "maps_to": "company"}]))

    assert errors["fields.0.maps_to"] == ["The email field always fills the lead's email."]


def test_an_email_field_given_without_required_or_target_gets_them():
    form = form_create(name="X", fields=[{"name": "work_email", "type": "email"}])

    field = form.fields.get()
    assert (field.required, field.maps_to) == (True, "email")


# --- Names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Give the field a name (letters, digits, _ or -)."),
        ("_lh_token", "Names starting with “_” are LeadHub's own."),
        ("lh_url", "“lh_url” is the spam trap's name."),
        ("first name", "Use only letters, digits, _ and - in names."),
        ("x" * 65, "Keep this to 64 characters or fewer (it has 65)."),
        ("bad\x00", "Null characters are not allowed."),
    ],
)
def test_it_refuses_bad_field_names(name, message):
    errors = errors_of(lambda: form_create(name="X", fields=[EMAIL, {"name": name}]))

    assert errors["fields.1.name"] == [message]


def test_it_refuses_two_fields_with_one_name():
    errors = errors_of(lambda: form_create(name="X", fields=[
        EMAIL, {"name": "company"}, {"name": "company", "maps_to": "attributes.co"}]))

    assert errors == {"fields.2.name": ["Field 2 is already named “company”: each name once."]}


# --- Targets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"name": "x", "maps_to": "score"}, "“score” is not a lead field"),
        ({"name": "x", "maps_to": "attributes.has space"},
         "Name the custom attribute with letters"),
        ({"name": "x", "maps_to": "company_size"},
         "Company size can only be filled by a Number field."),
        ({"name": "x", "type": "text", "maps_to": "marketing_consent"},
         "Marketing consent can only be filled by a Single checkbox (consent) field."),
        ({"name": "x", "type": "country", "maps_to": "company"},
         "Company can only be filled by a Text, Paragraph, Drop-down or Hidden field."),
        ({"name": "x", "type": "checkboxes", "options": ["a"], "maps_to": "industry"},
         "Industry can only be filled by"),
        ({"name": "x", "type": "number", "maps_to": "first_name"}, "First name can only be"),
    ],
)
def test_it_refuses_targets_that_do_not_fit(field, message):
    errors = errors_of(lambda: form_create(name="X", fields=[EMAIL, field]))

    assert errors["fields.1.maps_to"][0].startswith(message)


@pytest.mark.parametrize(
    ("kind", "target"),
    [("number", "company_size"), ("country", "country"), ("country", "attributes.region"),
     ("phone", "phone"), ("checkboxes", "attributes.interests"), ("hidden", "company"),
     ("textarea", ""), ("select", "industry")],
)
def test_it_accepts_targets_that_fit(kind, target):
    field = {"name": "x", "type": kind, "maps_to": target}
    if kind in ("select", "checkboxes"):
        field["options"] = ["a"]

    form = form_create(name="X", fields=[EMAIL, field])

    assert form.fields.get(name="x").maps_to == target


def test_it_refuses_two_fields_filling_one_lead_field():
    errors = errors_of(lambda: form_create(name="X", fields=[
        EMAIL, {"name": "a", "maps_to": "company"}, {"name": "b", "maps_to": "company"}]))

    assert errors == {"fields.2.maps_to": ["Field 2 already fills Company."]}


def test_it_refuses_two_fields_filling_one_attribute():
    errors = errors_of(lambda: form_create(name="X", fields=[
        EMAIL, {"name": "a", "maps_to": "attributes.t"}, {"name": "b", "maps_to": "attributes.t"}]))

    assert errors["fields.2.maps_to"] == ["Field 2 already fills the custom attribute “t”."]


def test_a_consent_checkbox_needs_the_consent_text():
    consent = {"name": "consent", "type": "checkbox", "maps_to": "marketing_consent"}

    errors = errors_of(lambda: form_create(name="X", fields=[EMAIL, consent]))
    form = form_create(name="Y", consent_text="Email me news.", fields=[EMAIL, consent])

    assert errors["fields.1.maps_to"][0].startswith("Write the consent text")
    assert form.fields.get(name="consent").maps_to == "marketing_consent"


def test_the_consent_text_cannot_go_while_a_consent_checkbox_shows_it():
    form = form_create(name="X", consent_text="Email me news.", fields=[
        EMAIL, {"name": "consent", "type": "checkbox", "maps_to": "marketing_consent"}])

    errors = errors_of(lambda: form_update(form=form, consent_text=""))

    assert "consent_text" in errors


def test_the_consent_text_and_its_checkbox_can_go_together():
    form = form_create(name="X", consent_text="Email me news.", fields=[
        EMAIL, {"name": "consent", "type": "checkbox", "maps_to": "marketing_consent"}])

    form_update(form=form, consent_text="", fields=[EMAIL])

    assert field_names(form) == ["email"]


# --- Options and defaults -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "Give at least one option."),
        (None, "Give at least one option."),
        (["a", " "], "Options can't be empty."),
        (["a", "a"], "Each option once: “a” is there twice."),
        (["x" * 201], "Keep each option to 200 characters or fewer."),
        ([f"o{i}" for i in range(201)], "Give at most 200 options (there are 201)."),
        ("a,b", "Give a list of text values."),
    ],
)
@pytest.mark.parametrize("kind", ["select", "multiselect", "checkboxes"])
def test_choice_fields_need_good_options(kind, options, message):
    errors = errors_of(lambda: form_create(name="X", fields=[
        EMAIL, {"name": "topic", "type": kind, "options": options}]))

    assert errors["fields.1.options"] == [message]


def test_options_are_trimmed_and_dropped_for_types_without_choices():
    form = form_create(name="X", fields=[
        EMAIL, {"name": "topic", "type": "select", "options": [" a ", "b"]},
        {"name": "note", "type": "text", "options": ["ignored"]}])

    assert form.fields.get(name="topic").options == ["a", "b"]
    assert form.fields.get(name="note").options == []


def test_a_drop_downs_default_must_be_an_option():
    errors = errors_of(lambda: form_create(name="X", fields=[
        EMAIL, {"name": "t", "type": "select", "options": ["a"], "default": "b"}]))

    assert errors["fields.1.default"] == ["The default must be one of the options."]


def test_a_required_hidden_field_needs_a_value():
    errors = errors_of(lambda: form_create(name="X", fields=[
        EMAIL, {"name": "campaign", "type": "hidden", "required": True}]))

    assert errors["fields.1.required"][0].startswith("Visitors can't fill in a hidden field")


def test_it_refuses_more_than_fifty_fields():
    fields = [EMAIL, *({"name": f"f{i}"} for i in range(50))]

    assert errors_of(lambda: form_create(name="X", fields=fields))["fields"] == [
        "A form has at most 50 fields."]


# --- Settings -------------------------------------------------------------------------------


def test_origins_are_normalised_and_deduplicated():
    form = form_create(name="X", allowed_origins=[
        "https://WWW.Example.com/", "https://www.example.com:443", "http://localhost:8000",
        "https://shop.example.com:8443", " "])

    assert form.allowed_origins == [
        "https://www.example.com", "http://localhost:8000", "https://shop.example.com:8443"]


@pytest.mark.parametrize(
    "origin",
    ["www.example.com", "http://www.example.com", "https://www.example.com/contact",
     "https://www.example.com?x=1", "ftp://example.com", "https://user:pw@example.com",
     "https://*.example.com", "https://"],
)
def test_it_refuses_what_is_not_an_https_origin(origin):
    assert "allowed_origins" in errors_of(
        lambda: form_create(name="X", allowed_origins=[origin]))


def test_the_redirect_url_must_be_https_on_an_allowed_host():
    origins = ["https://www.example.com"]

    not_allowed = errors_of(lambda: form_create(
        name="X", allowed_origins=origins, redirect_url="https://evil.example.net/thanks"))
    plain_http = errors_of(lambda: form_create(
        name="X", allowed_origins=origins, redirect_url="http://www.example.com/thanks"))
    javascript = errors_of(lambda: form_create(
        name="X", allowed_origins=origins, redirect_url="javascript:alert(1)"))
    form = form_create(name="X", allowed_origins=origins,
                       redirect_url="https://www.example.com/thanks?from=form")

    assert not_allowed["redirect_url"][0].startswith("The redirect URL must be on one of")
    assert "redirect_url" in plain_http and "redirect_url" in javascript
    assert form.redirect_url == "https://www.example.com/thanks?from=form"


def test_removing_the_redirects_origin_is_refused():
    form = form_create(name="X", allowed_origins=["https://www.example.com"],
                       redirect_url="https://www.example.com/thanks")

    errors = errors_of(lambda: form_update(form=form, allowed_origins=["https://other.example"]))

    assert "allowed_origins" in errors


@pytest.mark.parametrize(
    ("emails", "message"),
    [(["not an address"], "“not an address” is not a valid email address."),
     ([f"p{i}@example.com" for i in range(11)], "Notify at most 10 people.")],
)
def test_notification_emails_must_be_valid_and_few(emails, message):
    assert errors_of(lambda: form_create(name="X", notify_emails=emails))["notify_emails"] == [
        message]


def test_notification_emails_are_deduplicated():
    form = form_create(name="X", notify_emails=["Ann@Example.com", "ann@example.COM", ""])

    assert form.notify_emails == ["Ann@example.com"]


@pytest.mark.parametrize(
    ("settings", "key"),
    [({"min_seconds": -1}, "min_seconds"), ({"min_seconds": 3601}, "min_seconds"),
     ({"max_fields": 0}, "max_fields"), ({"max_fields": True}, "max_fields"),
     ({"disposable_emails": "maybe"}, "disposable_emails"),
     ({"double_opt_in": "yes"}, "double_opt_in"),
     ({"thank_you_message": "x" * 5001}, "thank_you_message")],
)
def test_it_refuses_bad_settings(settings, key):
    assert key in errors_of(lambda: form_create(name="X", **settings))


def test_the_consent_version_goes_up_when_the_text_changes():
    form = form_create(name="X", consent_text="v1")
    assert form.consent_version == 1

    form_update(form=form, consent_text="v1")  # the same words
    assert form.consent_version == 1
    form_update(form=form, consent_text="v2")
    assert form.consent_version == 2
    form.refresh_from_db()
    assert form.consent_version == 2


def test_a_refused_update_changes_nothing():
    form = form_create(name="Old", allowed_origins=["https://www.example.com"])

    errors_of(lambda: form_update(form=form, name="New", fields=[{"name": "no_email"}]))

    form.refresh_from_db()
    assert form.name == "Old"
    assert field_names(form) == ["email"]


# --- The field list -------------------------------------------------------------------------


def test_it_adds_edits_reorders_and_removes_fields_in_one_save():
    form = form_create(name="X", fields=[EMAIL, {"name": "company", "label": "Company"},
                                         {"name": "phone", "type": "phone"}])
    company_id = form.fields.get(name="company").pk

    form_set_fields(form=form, fields=[
        {"name": "company", "label": "Company name", "maps_to": "company"},
        EMAIL,
        {"name": "topic", "type": "select", "options": ["a", "b"]},
    ])

    assert field_names(form) == ["company", "email", "topic"]
    company = form.fields.get(name="company")
    assert (company.pk, company.label, company.maps_to) == (company_id, "Company name", "company")
    assert not form.fields.filter(name="phone").exists()


def test_field_names_can_swap_between_fields():
    form = form_create(name="X", fields=[EMAIL, {"name": "a", "label": "A"},
                                         {"name": "b", "label": "B"}])

    form_set_fields(form=form, fields=[EMAIL, {"name": "b", "label": "was A"},
                                       {"name": "a", "label": "was B"}])

    assert list(form.fields.order_by("position").values_list("name", "label")) == [
        ("email", ""), ("b", "was A"), ("a", "was B")]


def test_it_refuses_a_list_that_is_not_a_list():
    form = form_create(name="X")

    assert errors_of(lambda: form_set_fields(form=form, fields={"name": "x"}))["fields"] == [
        "Give the fields as a list."]


# --- Status, delete, duplicate --------------------------------------------------------------


def test_it_publishes_unpublishes_and_archives():
    form = form_create(name="X")

    form_publish(form=form)
    assert Form.objects.get(pk=form.pk).status == FormStatus.LIVE
    form_unpublish(form=form)
    assert Form.objects.get(pk=form.pk).status == FormStatus.DRAFT
    form_archive(form=form)
    assert Form.objects.get(pk=form.pk).status == FormStatus.ARCHIVED


def test_a_form_without_an_email_field_cannot_be_published():
    form = FormFactory(status=FormStatus.DRAFT)
    form.fields.all().delete()  # made outside the services

    assert "status" in errors_of(lambda: form_publish(form=form))


def test_deleting_a_form_without_submissions_deletes_it():
    form = form_create(name="X")

    assert form_delete(form=form) == "deleted"
    assert not Form.objects.exists()
    assert not FormField.objects.exists()


def test_deleting_a_form_with_submissions_archives_it():
    form = FormFactory()
    SubmissionFactory(form=form)

    assert form_delete(form=form) == "archived"
    assert Form.objects.get(pk=form.pk).status == FormStatus.ARCHIVED


def test_deleting_a_form_a_landing_page_uses_archives_it():
    form = FormFactory()
    LandingPageVariantFactory(form=form)

    assert form_delete(form=form) == "archived"
    assert Form.objects.filter(pk=form.pk).exists()


def test_it_duplicates_a_form_as_a_draft_with_its_fields(marketer):
    form = form_create(name="Ebook", status="live", consent_text="Yes",
                       allowed_origins=["https://www.example.com"], fields=[
                           EMAIL, {"name": "topic", "type": "select", "options": ["a", "b"],
                                   "maps_to": "attributes.topic"}])
    form_update(form=form, consent_text="Yes please")  # version 2
    SubmissionFactory(form=form)

    copy = form_duplicate(form=form, actor=marketer)

    assert (copy.name, copy.status, copy.created_by) == ("Ebook (copy)", "draft", marketer)
    assert copy.key != form.key
    assert copy.allowed_origins == ["https://www.example.com"]
    assert (copy.consent_text, copy.consent_version) == ("Yes please", 1)
    assert field_names(copy) == ["email", "topic"]
    assert copy.fields.get(name="topic").options == ["a", "b"]
    assert not copy.submissions.exists()
