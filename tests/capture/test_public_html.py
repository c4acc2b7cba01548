"""POST /f/<key>/ from a plain HTML form, and the pages around it."""

import pytest

from capture.models import Lead, Submission
from tests.factories import FormFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def form():
    return FormFactory(with_fields=True, thank_you_message="Thanks, we'll write soon!")


def test_a_good_post_is_a_303_to_the_thank_you_page(client, form):
    response = client.post(f"/f/{form.key}/", {"email": "ann@example.com", "company": "Acme"})

    assert response.status_code == 303
    assert response["Location"].startswith(f"/f/{form.key}/thanks/?s=")
    assert Lead.objects.get().company == "Acme"
    assert Submission.objects.get().channel == "html"
    thanks = client.get(response["Location"])
    assert "Thanks, we&#x27;ll write soon!" in thanks.content.decode()


def test_multipart_posts_work_too(client, form):
    response = client.post(f"/f/{form.key}/", {"email": "ann@example.com"})  # multipart

    assert response.status_code == 303


def test_it_redirects_only_to_the_url_in_the_forms_settings(client, form):
    form.redirect_url = "https://www.example.com/thank-you"
    form.save()

    response = client.post(
        f"/f/{form.key}/?next=https://evil.example.net/",
        {"email": "ann@example.com", "redirect_url": "https://evil.example.net/",
         "next": "https://evil.example.net/"},
    )

    assert response.status_code == 303
    assert response["Location"] == "https://www.example.com/thank-you"


def test_invalid_input_shows_the_form_again_with_errors_and_values(client, form):
    response = client.post(f"/f/{form.key}/", {"email": "not-an-email", "company": "Acme Ltd"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a valid email address." in page
    assert 'value="Acme Ltd"' in page
    assert 'value="not-an-email"' in page
    assert not Submission.objects.exists()


def test_what_a_visitor_typed_is_escaped_when_the_form_comes_back(client, form):
    evil = '"><script>alert(1)</script>'

    response = client.post(f"/f/{form.key}/", {"email": "bad", "company": evil})

    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_post_from_a_site_not_allowed_is_refused(client, form):
    response = client.post(f"/f/{form.key}/", {"email": "ann@example.com"},
                           HTTP_ORIGIN="https://evil.example.net")

    assert response.status_code == 403
    assert not Submission.objects.exists()


def test_a_post_from_an_allowed_site_is_accepted(client, form):
    response = client.post(f"/f/{form.key}/", {"email": "ann@example.com"},
                           HTTP_ORIGIN="https://www.example.com")

    assert response.status_code == 303


def test_the_hosted_form_page_renders_every_field_and_the_defences(client, form):
    response = client.get(f"/f/{form.key}/")

    page = response.content.decode()
    assert response.status_code == 200
    for name in ("email", "first_name", "company", "topic", "lh_url", "_lh_token"):
        assert f'name="{name}"' in page


def test_unknown_and_draft_forms_are_404(client):
    draft = FormFactory(status="draft")

    assert client.get("/f/nope/").status_code == 404
    assert client.post(f"/f/{draft.key}/", {"email": "a@example.com"}).status_code == 404


def test_the_rate_limit_is_a_429_with_retry_after(client, form, settings):
    settings.FORM_RATE_PER_IP = "1/minute"

    client.post(f"/f/{form.key}/", {"email": "a@example.com"})
    response = client.post(f"/f/{form.key}/", {"email": "b@example.com"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


# --- Hidden fields take their values from the page's address ------------------------------


@pytest.fixture
def tagged(form):
    from tests.factories import FormFieldFactory

    FormFieldFactory(form=form, name="utm_source", type="hidden", default="website",
                     maps_to="attributes.utm_source", position=5)
    FormFieldFactory(form=form, name="campaign", type="hidden", default="",
                     maps_to="attributes.utm_campaign", position=6)
    FormFieldFactory(form=form, name="gclid", type="hidden", position=7)
    return form


def test_a_hidden_field_takes_the_query_parameter_of_its_name_from_the_page(client, tagged):
    client.post(f"/f/{tagged.key}/", {
        "email": "ann@example.com", "utm_source": "website",  # the default, as drawn
        "_lh_page": "https://www.example.com/ebook?utm_source=google&utm_campaign=spring"
                    "&gclid=abc123",
    })

    submission = Submission.objects.get()
    assert (submission.data["utm_source"], submission.data["gclid"]) == ("google", "abc123")
    # "campaign" maps to attributes.utm_campaign, so it takes utm_campaign.
    assert submission.data["campaign"] == "spring"
    assert Lead.objects.get().attributes == {"utm_source": "google", "utm_campaign": "spring"}


def test_without_the_parameter_a_hidden_field_keeps_its_default(client, tagged):
    client.post(f"/f/{tagged.key}/", {"email": "ann@example.com",
                                      "_lh_page": "https://www.example.com/ebook?x=1"})

    data = Submission.objects.get().data
    assert (data["utm_source"], data["campaign"], data["gclid"]) == ("website", "", "")


def test_a_value_other_than_the_default_is_kept(client, tagged):
    client.post(f"/f/{tagged.key}/", {"email": "ann@example.com", "utm_source": "partner",
                                      "_lh_page": "https://www.example.com/?utm_source=google"})

    assert Submission.objects.get().data["utm_source"] == "partner"


def test_an_unstorable_parameter_is_no_error_the_visitor_sees(client, tagged):
    response = client.post(f"/f/{tagged.key}/", {
        "email": "ann@example.com", "_lh_page": "https://www.example.com/?gclid=%00%00"})

    assert response.status_code == 303
    assert Submission.objects.get().data["gclid"] == ""


def test_the_hosted_page_passes_its_own_query_string_on(client, tagged):
    import re
    from html import unescape

    html = client.get(f"/f/{tagged.key}/?utm_source=newsletter").content.decode()
    page_url = unescape(re.search(r'name="_lh_page" value="([^"]*)"', html).group(1))

    client.post(f"/f/{tagged.key}/", {"email": "ann@example.com", "utm_source": "website",
                                      "_lh_page": page_url})

    lead = Lead.objects.get()
    assert lead.attributes["utm_source"] == "newsletter"
    assert lead.first_utm_source == "newsletter"


# --- A form another process changed (this one has it cached) ---------------------------------


def _changed_by_another_process(form, **changes):
    """What this process sees of a change another one made: the rows, and no signal."""
    from django.utils import timezone

    from capture.models import Form

    Form.objects.filter(pk=form.pk).update(updated_at=timezone.now(), **changes)


def test_a_form_another_process_unpublished_takes_no_html_post(client, form):
    from capture.models import FormStatus

    client.post(f"/f/{form.key}/", {"email": "ann@example.com"})  # now cached here
    _changed_by_another_process(form, status=FormStatus.DRAFT)

    response = client.post(f"/f/{form.key}/", {"email": "bob@example.com"})

    assert response.status_code == 404
    assert Submission.objects.count() == Lead.objects.count() == 1


def test_a_field_another_process_added_comes_back_with_its_error(client, form):
    from capture.models import FieldType, FormField

    client.post(f"/f/{form.key}/", {"email": "ann@example.com"})  # now cached here
    FormField.objects.bulk_create([FormField(  # bulk: no signal reaches this process
        form=form, name="budget", type=FieldType.NUMBER, required=True, label="Budget",
        position=99)])
    _changed_by_another_process(form)

    response = client.post(f"/f/{form.key}/", {"email": "bob@example.com"})

    assert response.status_code == 400
    assert 'name="budget"' in response.content.decode()
    assert not Lead.objects.filter(email="bob@example.com").exists()
