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
