"""The Forms pages: the list, creating, the builder (add, edit, remove, reorder, preview),
publishing with its three snippets, duplicating and deleting; and who may do what."""

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from capture.models import FieldType, Form, FormStatus, FormViews
from capture.services import form_create
from tests.factories import (
    FormFactory,
    LandingPageVariantFactory,
    SubmissionFactory,
)

pytestmark = pytest.mark.django_db

SETTINGS = {
    "name": "Ebook",
    "thank_you_message": "Thanks!",
    "redirect_url": "",
    "allowed_origins": "https://www.example.com",
    "consent_text": "",
    "notify_emails": "",
    "max_fields": "",
    "disposable_emails": "flag",
    "min_seconds": "3",
}


def row_data(field, position: int) -> dict:
    """A saved field as the builder posts it (see capture.forms.FieldRowForm)."""
    maps_to = field.maps_to
    target, attribute = maps_to, ""
    if maps_to.startswith("attributes."):
        target, attribute = "attribute", maps_to.removeprefix("attributes.")
    row = {"label": field.label, "name": field.name, "type": field.type,
           "placeholder": field.placeholder, "help_text": field.help_text,
           "default": field.default, "options": "\n".join(field.options),
           "target": target, "attribute": attribute, "position": str(position),
           "expanded": "False", "fresh": "False"}
    if field.required:
        row["required"] = "on"
    if field.type == FieldType.EMAIL:
        del row["target"], row["attribute"]  # the page shows these as text for the email field
    return row


def builder_post(rows: list[dict], action: str = "save", **settings) -> dict:
    data = {**SETTINGS, **settings, "_action": action,
            "fields-TOTAL_FORMS": str(len(rows)), "fields-INITIAL_FORMS": str(len(rows)),
            "fields-MIN_NUM_FORMS": "0", "fields-MAX_NUM_FORMS": "50"}
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"fields-{i}-{key}"] = value
    return {k: v for k, v in data.items() if v is not None}


def rows_of(form) -> list[dict]:
    return [row_data(f, i) for i, f in enumerate(form.fields.order_by("position"))]


@pytest.fixture
def form():
    return FormFactory(with_fields=True, name="Ebook", thank_you_message="Thanks!")


def row_names(page: str) -> list[str]:
    """The field names of a builder page's rows, in the order they are drawn."""
    return re.findall(r'name="fields-\d+-name" value="([^"]*)"', page)


def names(form) -> list[str]:
    return list(form.fields.order_by("position").values_list("name", flat=True))


# --- The list -------------------------------------------------------------------------------


def test_it_lists_forms_with_views_submissions_conversion_and_last_submission(client, rep):
    ebook = FormFactory(name="Ebook")
    FormViews.objects.create(form=ebook, day=date.today(), views=30)
    FormViews.objects.create(form=ebook, day=date.today() - timedelta(days=1), views=10)
    SubmissionFactory.create_batch(3, form=ebook)
    SubmissionFactory(form=ebook, lead=None, is_spam=True, spam_reason="honeypot")
    FormFactory(name="Quiet", status=FormStatus.DRAFT)
    client.force_login(rep)

    page = client.get("/forms/").content.decode()

    rows = re.findall(r'<tr data-testid="form-row">(.*?)</tr>', page, re.S)
    assert len(rows) == 2
    ebook_row = next(r for r in rows if "Ebook" in r)
    assert re.search(r'data-testid="form-views">40<', ebook_row)
    assert re.search(r'data-testid="form-submissions">.*?>3</a>', ebook_row)  # spam left out
    assert "7.5 %" in ebook_row
    assert "Live" in ebook_row
    quiet_row = next(r for r in rows if "Quiet" in r)
    assert "Draft" in quiet_row and 'title="Not viewed yet"' in quiet_row


def test_the_list_costs_the_same_queries_for_many_forms(client, marketer):
    client.force_login(marketer)
    FormFactory()
    client.get("/forms/")  # warm up sessions and permissions
    with CaptureQueriesContext(connection) as one:
        client.get("/forms/")
    for _ in range(6):
        form = FormFactory()
        FormViews.objects.create(form=form, day=date.today(), views=5)
        SubmissionFactory.create_batch(2, form=form)
    with CaptureQueriesContext(connection) as seven:
        response = client.get("/forms/")

    assert response.content.decode().count('data-testid="form-row"') == 7
    assert len(seven) == len(one)


def test_it_searches_filters_by_status_and_hides_archived_forms_by_default(client, rep):
    FormFactory(name="Spring ebook")
    FormFactory(name="Autumn ebook", status=FormStatus.ARCHIVED)
    FormFactory(name="Webinar", status=FormStatus.DRAFT)
    client.force_login(rep)

    default = client.get("/forms/").content.decode()
    search = client.get("/forms/", {"q": "ebook"}).content.decode()
    archived = client.get("/forms/", {"status": "archived"}).content.decode()

    assert "Spring ebook" in default and "Webinar" in default and "Autumn" not in default
    assert "Spring ebook" in search and "Webinar" not in search
    assert "Autumn ebook" in archived and "Spring" not in archived


def test_it_pages_the_list(client, rep):
    FormFactory.create_batch(26)
    client.force_login(rep)

    first = client.get("/forms/").content.decode()
    second = client.get("/forms/", {"page": 2}).content.decode()

    assert first.count('data-testid="form-row"') == 25
    assert second.count('data-testid="form-row"') == 1


def test_the_new_form_button_is_for_people_who_build_forms(client, marketer, rep):
    client.force_login(marketer)
    assert "New form" in client.get("/forms/").content.decode()
    client.force_login(rep)
    assert "New form" not in client.get("/forms/").content.decode()


# --- Who may do what ------------------------------------------------------------------------


def test_signed_out_visitors_go_to_the_login_page(client, form):
    for url in ("/forms/", f"/forms/{form.pk}/", "/forms/submissions/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_outsiders_get_a_403_everywhere(client, outsider, form):
    client.force_login(outsider)
    for url in ("/forms/", f"/forms/{form.pk}/", f"/forms/{form.pk}/publish/",
                "/forms/submissions/", f"/forms/{form.pk}/submissions/", "/forms/new/"):
        assert client.get(url).status_code == 403, url


def test_reps_see_the_builder_read_only_and_may_change_nothing(client, rep, form):
    client.force_login(rep)

    page = client.get(f"/forms/{form.pk}/").content.decode()

    assert "<fieldset disabled>" in page
    assert 'data-testid="save-form"' not in page
    assert 'data-testid="publish"' not in client.get(f"/forms/{form.pk}/publish/").content.decode()
    writes = [
        ("/forms/new/", {"name": "X"}),
        (f"/forms/{form.pk}/", builder_post(rows_of(form), name="Hacked")),
        (f"/forms/{form.pk}/publish/", {"action": "unpublish"}),
        (f"/forms/{form.pk}/duplicate/", {}),
        (f"/forms/{form.pk}/delete/", {}),
    ]
    for url, data in writes:
        assert client.post(url, data).status_code == 403, url
    form.refresh_from_db()
    assert (form.name, form.status, Form.objects.count()) == ("Ebook", "live", 1)


# --- Creating -------------------------------------------------------------------------------


def test_a_marketer_creates_a_form_and_lands_in_the_builder(client, marketer):
    client.force_login(marketer)

    response = client.post("/forms/new/", {"name": "Webinar"})

    form = Form.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/forms/{form.pk}/"
    assert (form.name, form.status, form.created_by) == ("Webinar", "draft", marketer)
    assert names(form) == ["email"]


def test_creating_a_form_without_a_name_shows_the_error(client, marketer):
    client.force_login(marketer)

    response = client.post("/forms/new/", {"name": ""})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Form.objects.exists()


# --- The builder ----------------------------------------------------------------------------


def test_the_builder_shows_the_fields_in_order_and_the_preview(client, marketer, form):
    client.force_login(marketer)

    page = client.get(f"/forms/{form.pk}/").content.decode()

    assert page.count('data-testid="field-row"') == 4
    assert row_names(page) == ["email", "first_name", "company", "topic"]
    preview = page[page.index('id="form-preview"'):]
    assert f'id="lh-{form.key}-topic"' in preview  # drawn by the public form template
    assert "disabled" in preview[preview.index('type="submit"'):][:200]


def test_it_saves_edits_to_fields_and_settings(client, marketer, form):
    client.force_login(marketer)
    rows = rows_of(form)
    rows[1].update(label="Your first name", placeholder="Ann", required="on")
    rows[3].update(options="Pricing\nProduct\nSupport", attribute="interest")

    response = client.post(f"/forms/{form.pk}/", builder_post(
        rows, name="Ebook 2", min_seconds="0", notify_emails="sales@example.com"))

    assert response.status_code == 302
    form.refresh_from_db()
    first_name = form.fields.get(name="first_name")
    assert (first_name.label, first_name.placeholder, first_name.required) == (
        "Your first name", "Ann", True)
    topic = form.fields.get(name="topic")
    assert (topic.options, topic.maps_to) == (["Pricing", "Product", "Support"],
                                              "attributes.interest")
    assert (form.name, form.min_seconds, form.notify_emails) == (
        "Ebook 2", 0, ["sales@example.com"])


def test_it_saves_a_new_order(client, marketer, form):
    client.force_login(marketer)
    rows = rows_of(form)
    # The browser renumbers the position inputs after a drag; the formset order stays.
    for row, position in zip(rows, (2, 0, 3, 1), strict=True):
        row["position"] = str(position)

    client.post(f"/forms/{form.pk}/", builder_post(rows))

    assert names(form) == ["first_name", "topic", "email", "company"]


def test_add_returns_the_field_list_with_a_new_unsaved_field(client, marketer, form):
    client.force_login(marketer)

    response = client.post(f"/forms/{form.pk}/",
                           builder_post(rows_of(form), "add", _new_type="phone"),
                           HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page  # the partial
    assert page.count('data-testid="field-row"') == 5
    assert 'name="fields-4-name" value="phone"' in page
    assert 'name="fields-4-type"' in page and '<option value="phone" selected>' in page
    assert re.search(r'name="fields-4-label"[^>]*autofocus', page)
    assert names(form) == ["email", "first_name", "company", "topic"]  # not saved


def test_an_added_field_is_saved_with_the_form(client, marketer, form):
    client.force_login(marketer)
    rows = rows_of(form)
    rows.append({"label": "Phone", "name": "phone", "type": "phone", "target": "phone",
                 "position": "4", "fresh": "True"})

    client.post(f"/forms/{form.pk}/", builder_post(rows))

    phone = form.fields.get(name="phone")
    assert (phone.type, phone.maps_to, phone.position) == (FieldType.PHONE, "phone", 4)


def test_remove_returns_the_list_without_the_field_and_save_removes_it(client, marketer, form):
    client.force_login(marketer)

    partial = client.post(f"/forms/{form.pk}/", builder_post(rows_of(form), "remove:2"),
                          HTTP_HX_REQUEST="true").content.decode()
    rows = [r for r in rows_of(form) if r["name"] != "company"]
    client.post(f"/forms/{form.pk}/", builder_post(rows))

    assert row_names(partial) == ["email", "first_name", "topic"]
    assert names(form) == ["email", "first_name", "topic"]


def test_the_email_field_cannot_be_removed(client, marketer, form):
    client.force_login(marketer)

    partial = client.post(f"/forms/{form.pk}/", builder_post(rows_of(form), "remove:0"),
                          HTTP_HX_REQUEST="true").content.decode()
    saved = client.post(f"/forms/{form.pk}/", builder_post(rows_of(form)[1:]))

    assert partial.count('data-testid="field-row"') == 4
    assert "This form is live: it must keep its email field." in saved.content.decode()
    assert names(form)[0] == "email"


def test_the_keyboard_move_buttons_move_a_row_and_keep_the_focus_on_it(client, marketer, form):
    client.force_login(marketer)

    down = client.post(f"/forms/{form.pk}/", builder_post(rows_of(form), "move:1:down"))
    up = client.post(f"/forms/{form.pk}/", builder_post(rows_of(form), "move:3:up"),
                     HTTP_HX_REQUEST="true")

    page = down.content.decode()  # without JavaScript: the whole page, unsaved
    assert "<html" in page
    assert row_names(page) == ["email", "company", "first_name", "topic"]
    assert re.search(r'value="move:2:down"[^>]*\n?[^>]*autofocus', page)
    partial = up.content.decode()
    assert row_names(partial) == ["email", "first_name", "topic", "company"]
    assert re.search(r'value="move:2:up"[^>]*\n?[^>]*autofocus', partial)
    assert names(form) == ["email", "first_name", "company", "topic"]  # nothing saved


def test_a_round_trip_keeps_unsaved_edits_and_shows_no_errors_yet(client, marketer, form):
    client.force_login(marketer)
    rows = rows_of(form)
    rows[2]["label"] = "Company (unsaved)"
    rows[2]["name"] = "not a slug!"

    page = client.post(f"/forms/{form.pk}/", builder_post(rows, "add:text", name="Typed name")
                       ).content.decode()

    assert 'value="Company (unsaved)"' in page
    assert 'value="Typed name"' in page
    assert "Use only letters" not in page and "invalid-feedback" not in page


def test_save_shows_errors_beside_their_inputs_and_saves_nothing(client, marketer, form):
    client.force_login(marketer)
    rows = rows_of(form)
    rows[1]["name"] = "first name"  # not a slug
    rows[2]["target"] = "first_name"  # already filled by field 2... if valid
    rows[3]["options"] = ""

    response = client.post(f"/forms/{form.pk}/", builder_post(
        rows, redirect_url="https://evil.example.net/"))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="builder-errors"' in page
    assert "Use only letters, digits, _ and - in names." in page
    assert "Give at least one option." in page
    assert "The redirect URL must be on one of the allowed origins" in page
    form.refresh_from_db()
    assert form.redirect_url == "" and form.fields.get(name="topic").options == ["a", "b"]


def test_a_field_filling_a_custom_attribute_needs_its_name(client, marketer, form):
    client.force_login(marketer)
    rows = rows_of(form)
    rows[3]["attribute"] = ""

    page = client.post(f"/forms/{form.pk}/", builder_post(rows)).content.decode()

    assert "Name the custom attribute this field fills." in page


def test_a_tampered_builder_post_is_a_400(client, marketer, form):
    client.force_login(marketer)

    assert client.post(f"/forms/{form.pk}/", {"_action": "save", "name": "X"}).status_code == 400


def test_the_preview_draws_the_unsaved_state(client, marketer, form):
    client.force_login(marketer)
    rows = rows_of(form)
    rows[1]["label"] = "What should we call you?"
    rows[3].update(options="Red\nGreen", type="checkboxes")
    rows.append({"label": "Budget", "name": "", "type": "number", "position": "4"})

    response = client.post(f"/forms/{form.pk}/preview/", builder_post(rows, name="Unsaved name"),
                           HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert response.status_code == 200
    assert "What should we call you?" in page
    assert "Unsaved name" in page
    assert 'type="checkbox"' in page and 'value="Green"' in page
    assert 'name="budget"' in page
    assert 'name="_lh_token" value=""' in page
    form.refresh_from_db()
    assert form.fields.get(name="first_name").label == "First name"


def test_the_preview_escapes_what_was_typed(client, marketer, form):
    client.force_login(marketer)
    rows = rows_of(form)
    rows[1]["label"] = "<script>alert(1)</script>"

    page = client.post(f"/forms/{form.pk}/preview/", builder_post(rows)).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- Publishing -----------------------------------------------------------------------------


def test_the_publish_panel_offers_the_three_ways(client, marketer, form, settings):
    settings.PUBLIC_URL = "https://leads.example.org"
    variant = LandingPageVariantFactory(form=form, page__slug="ebook", page__title="Get it")
    client.force_login(marketer)

    response = client.get(f"/forms/{form.pk}/publish/")

    page = response.content.decode()
    hosted = f"https://leads.example.org/f/{form.key}/"
    assert f'value="{hosted}"' in page
    assert "https://leads.example.org/p/ebook/" in page and variant.page.title in page
    embed = (f'&lt;div data-leadhub-form=&quot;{form.key}&quot;&gt;&lt;/div&gt;\n'
             f'&lt;script src=&quot;{hosted}embed.js&quot; async&gt;&lt;/script&gt;')
    assert embed in page
    assert page.count("data-copy=") >= 4
    snippet = response.context["html_snippet"]
    assert f'<form method="post" action="{hosted}"' in snippet
    assert 'name="lh_url"' in snippet  # the honeypot
    assert "<style>.lh-hp{position:absolute;left:-10000px" in snippet
    assert "_lh_token" not in snippet  # no render time to sign in static HTML
    # The page and its referrer, filled by the snippet's optional script.
    assert '<input type="hidden" name="_lh_page" value="">' in snippet
    assert '<input type="hidden" name="_lh_ref" value="">' in snippet
    assert snippet.count("<script>") == 1
    assert "location.href" in snippet and "document.referrer" in snippet
    for name in ("email", "first_name", "company", "topic"):
        assert f'name="{name}"' in snippet
    assert 'data-testid="publish-warnings"' not in page
    assert "UTM parameters and referrer" in page
    assert "UTM parameters of the page are lost" not in page


def test_the_snippets_script_carries_nothing_from_the_form(client, marketer, form):
    """No data in inline code (templates/capture/forms/snippet.html): the script is the
    same text for every form, whatever its fields or name."""
    other = FormFactory(name='</script><script>alert("x")</script>')
    client.force_login(marketer)

    scripts = [re.findall(r"<script>.*?</script>",
                          client.get(f"/forms/{f.pk}/publish/").context["html_snippet"], re.S)
               for f in (form, other)]

    assert len(scripts[0]) == 1 and scripts[0] == scripts[1]
    assert form.key not in scripts[0][0]


def test_the_plain_snippet_posts_to_the_form(client, marketer, form, settings):
    """What the snippet sends is what the public endpoint takes: no token needed."""
    client.force_login(marketer)
    snippet = client.get(f"/forms/{form.pk}/publish/").context["html_snippet"]
    action = re.search(r'action="([^"]+)"', snippet).group(1)
    client.logout()

    response = client.post(action.removeprefix(settings.PUBLIC_URL),
                           {"email": "ann@example.com", "topic": "a", "lh_url": ""},
                           HTTP_ORIGIN="https://www.example.com")

    assert response.status_code == 303
    assert form.submissions.get().is_spam is False


def test_the_snippet_brings_the_pages_utm_parameters_when_its_script_ran(
    client, marketer, form, settings
):
    """As the snippet posts with its script run: the page's address and referrer in
    _lh_page and _lh_ref (a browser test runs the script itself: tests/e2e)."""
    client.force_login(marketer)
    snippet = client.get(f"/forms/{form.pk}/publish/").context["html_snippet"]
    action = re.search(r'action="([^"]+)"', snippet).group(1)
    client.logout()

    client.post(action.removeprefix(settings.PUBLIC_URL), {
        "email": "ann@example.com", "topic": "a", "lh_url": "",
        "_lh_page": "https://www.example.com/ebook?utm_source=linkedin&utm_campaign=q3",
        "_lh_ref": "https://www.linkedin.com/",
    }, HTTP_ORIGIN="https://www.example.com",
        # What browsers send to another site: the origin only.
        HTTP_REFERER="https://www.example.com/")

    lead = form.submissions.get().lead
    assert (lead.first_utm_source, lead.first_utm_campaign) == ("linkedin", "q3")
    assert lead.first_referrer == "https://www.linkedin.com/"
    assert lead.first_landing_url.endswith("/ebook?utm_source=linkedin&utm_campaign=q3")


def test_the_publish_panel_warns_about_drafts_missing_origins_and_proof_of_work(
    client, marketer
):
    form = form_create(name="Draft", proof_of_work=True)
    client.force_login(marketer)

    page = client.get(f"/forms/{form.pk}/publish/").content.decode()

    assert 'data-testid="warning-draft"' in page
    assert 'data-testid="warning-origins"' in page
    assert 'data-testid="warning-pow"' in page


def test_it_publishes_and_unpublishes(client, marketer):
    form = form_create(name="Draft")
    client.force_login(marketer)

    client.post(f"/forms/{form.pk}/publish/", {"action": "publish"})
    form.refresh_from_db()
    assert form.status == FormStatus.LIVE
    client.post(f"/forms/{form.pk}/publish/", {"action": "unpublish"})
    form.refresh_from_db()
    assert form.status == FormStatus.DRAFT
    assert client.post(f"/forms/{form.pk}/publish/", {"action": "explode"}).status_code == 400


# --- Duplicate, delete ----------------------------------------------------------------------


def test_it_duplicates_a_form(client, marketer, form):
    client.force_login(marketer)

    response = client.post(f"/forms/{form.pk}/duplicate/")

    copy = Form.objects.exclude(pk=form.pk).get()
    assert response["Location"] == f"/forms/{copy.pk}/"
    assert (copy.name, copy.status) == ("Ebook (copy)", "draft")
    assert names(copy) == names(form)


def test_deleting_a_form_with_submissions_archives_it(client, marketer, form):
    SubmissionFactory(form=form)
    client.force_login(marketer)

    confirm = client.get(f"/forms/{form.pk}/delete/").content.decode()
    client.post(f"/forms/{form.pk}/delete/")

    assert "Archive the form" in confirm
    form.refresh_from_db()
    assert form.status == FormStatus.ARCHIVED


def test_deleting_an_unused_form_deletes_it(client, marketer):
    form = form_create(name="Scratch")
    client.force_login(marketer)

    client.post(f"/forms/{form.pk}/delete/")

    assert not Form.objects.exists()


# --- Escaping -------------------------------------------------------------------------------


def test_what_marketers_typed_is_escaped_on_every_page(client, marketer):
    evil = '"><script>alert(1)</script>'
    form = form_create(name=evil, thank_you_message=evil, consent_text=evil, fields=[
        {"name": "email", "type": "email", "label": evil, "help_text": evil},
        {"name": "topic", "type": "select", "options": [evil], "label": evil},
    ])
    client.force_login(marketer)

    for url in ("/forms/", f"/forms/{form.pk}/", f"/forms/{form.pk}/publish/",
                f"/forms/{form.pk}/delete/", f"/forms/{form.pk}/submissions/"):
        page = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in page, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url
