"""GET /f/<key>/embed.js (the JS embed) and the two small JSON endpoints it uses:
/f/<key>/challenge/ and /f/<key>/fields/."""

import json
import re

import pytest

from capture.models import FormViews
from capture.services import visitor_sign
from capture.spam import read_render_token
from tests.factories import FormFactory, FormFieldFactory, LeadFactory, VisitorFactory

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.example.com"


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PUBLIC_URL = "https://leads.example.com"


@pytest.fixture
def form():
    return FormFactory(with_fields=True, thank_you_message="Thanks!")


def config_of(response) -> dict:
    """The form's data as the script passes it to lhEmbed(...)."""
    body = response.content.decode()
    match = re.search(r"\nlhEmbed\((\{.*\}), (null|LeadHubPow)\);\n\}\)\(\);\n$", body, re.S)
    assert match, body[-300:]
    return json.loads(match.group(1))


def test_it_serves_a_script_with_the_forms_fields_as_json(client, form):
    response = client.get(f"/f/{form.key}/embed.js")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    config = config_of(response)
    assert [f["name"] for f in config["fields"]] == ["email", "first_name", "company", "topic"]
    topic = config["fields"][3]
    assert (topic["type"], topic["label"], topic["options"]) == ("select", "Topic", ["a", "b"])
    assert config["fields"][0]["required"] is True
    assert config["endpoint"] == f"https://leads.example.com/api/v1/forms/{form.key}/submissions/"
    assert config["thanks"] == "Thanks!"
    assert config["pow"] is None and config["show"] is None
    info = read_render_token(config["token"], form_id=form.pk)
    assert info.valid and info.age_seconds < 5 and info.variant_id is None


def test_the_script_is_never_cached_and_carries_a_fresh_token(client, form, time_machine):
    time_machine.move_to("2026-03-01 12:00:00", tick=False)
    first = client.get(f"/f/{form.key}/embed.js")
    time_machine.move_to("2026-03-01 12:05:00", tick=False)
    second = client.get(f"/f/{form.key}/embed.js")

    assert "no-store" in first["Cache-Control"]
    assert first["Cross-Origin-Resource-Policy"] == "cross-origin"
    # The token is the time the form was shown: each request gets its own.
    assert read_render_token(config_of(first)["token"], form_id=form.pk).age_seconds == 300
    assert read_render_token(config_of(second)["token"], form_id=form.pk).age_seconds == 0


def test_text_from_the_form_cannot_break_out_of_the_script(client, form):
    evil = '</script><script>alert("x")</script>\'"\u2028<!--'
    FormFieldFactory(form=form, name="evil", label=evil, placeholder=evil, help_text=evil,
                     type="select", options=[evil], position=9)
    form.thank_you_message = evil
    form.save()

    response = client.get(f"/f/{form.key}/embed.js")

    body = response.content.decode()
    assert "</script>" not in body.lower()
    assert "<script>" not in body.lower()
    assert "<!--" not in body
    assert "\u2028" not in body
    field = config_of(response)["fields"][-1]
    assert field["label"] == field["placeholder"] == field["help"] == evil
    assert field["options"] == [evil]
    assert config_of(response)["thanks"] == evil


def test_the_script_sets_text_only_with_textcontent(client, form):
    body = client.get(f"/f/{form.key}/embed.js").content.decode()

    assert "innerHTML" not in body
    assert "insertAdjacentHTML" not in body
    assert "document.write" not in body


def test_it_is_404_for_unknown_and_draft_forms(client):
    draft = FormFactory(status="draft")

    for key in ("nope", draft.key):
        response = client.get(f"/f/{key}/embed.js")
        assert response.status_code == 404
        assert response.content.decode().startswith("/*")
    assert not FormViews.objects.exists()


def test_a_request_counts_a_view_of_the_form_once_per_address_and_half_hour(
    client, form, time_machine
):
    time_machine.move_to("2026-03-01 12:00:00", tick=False)
    for _ in range(5):  # reloads, or a script fetching it in a loop
        client.get(f"/f/{form.key}/embed.js")
    client.get(f"/f/{form.key}/embed.js", REMOTE_ADDR="10.0.0.7")
    time_machine.move_to("2026-03-01 12:29:00", tick=False)
    client.get(f"/f/{form.key}/embed.js")
    time_machine.move_to("2026-03-01 12:31:00", tick=False)
    client.get(f"/f/{form.key}/embed.js")

    row = FormViews.objects.get()
    assert (row.form_id, row.variant_id, row.views) == (form.pk, None, 3)


def test_new_ipv6_addresses_of_one_network_count_as_one_viewer(client, form):
    for host in range(1, 6):
        client.get(f"/f/{form.key}/embed.js", REMOTE_ADDR=f"2001:db8:1:2::{host}")
    client.get(f"/f/{form.key}/embed.js", REMOTE_ADDR="2001:db8:1:3::1")

    assert FormViews.objects.get().views == 2


def test_with_the_cache_down_every_view_counts(client, form, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}

    responses = [client.get(f"/f/{form.key}/embed.js") for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 200]
    assert FormViews.objects.get().views == 2


def test_a_proof_of_work_form_brings_its_solver_and_a_challenge(client, form, settings):
    form.proof_of_work = True
    form.save()

    response = client.get(f"/f/{form.key}/embed.js")

    body = response.content.decode()
    assert "var LeadHubPow" in body
    assert body.endswith("LeadHubPow);\n})();\n")
    pow_config = config_of(response)["pow"]
    assert pow_config["difficulty"] == settings.FORM_POW_DIFFICULTY
    assert pow_config["challenge"]


def test_the_script_stays_small(client, form):
    body = client.get(f"/f/{form.key}/embed.js").content

    assert len(body) < 12_000  # code + this form's data; the PoW solver only when needed


# --- /f/<key>/challenge/ ------------------------------------------------------------------


def test_the_challenge_endpoint_gives_a_fresh_challenge_to_any_page(client, form, settings):
    response = client.get(f"/f/{form.key}/challenge/", HTTP_ORIGIN="https://anywhere.example")

    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"challenge", "difficulty", "required"}
    assert body["difficulty"] == settings.FORM_POW_DIFFICULTY
    assert body["required"] is False
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "no-store" in response["Cache-Control"]
    assert client.get(f"/f/{form.key}/challenge/").json()["challenge"] != body["challenge"]


def test_the_challenge_endpoint_is_404_for_unknown_forms(client):
    assert client.get("/f/nope/challenge/").status_code == 404


# --- /f/<key>/fields/ (progressive profiling) ---------------------------------------------


@pytest.fixture
def profiled():
    form = FormFactory(with_fields=True, progressive_profiling=True, max_fields=2)
    FormFieldFactory(form=form, name="job", maps_to="job_title", position=4)
    return form


def fields_for(client, form, **params):
    return client.get(f"/f/{form.key}/fields/", params, HTTP_ORIGIN=ORIGIN)


def test_fields_for_an_unknown_visitor_are_the_first_ones(client, profiled):
    response = fields_for(client, profiled, email="new@example.com")

    assert response.json() == {"fields": ["email", "first_name"]}
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_fields_for_a_known_email_skip_what_is_known_and_reveal_no_values(client, profiled):
    LeadFactory(email="ann@example.com", first_name="Ann", company="Acme", job_title="")

    response = fields_for(client, profiled, email="  ANN@example.com ")

    assert response.json() == {"fields": ["email", "topic"]}
    assert "Ann" not in response.content.decode() and "Acme" not in response.content.decode()


def test_fields_for_a_known_visitor_cookie(client, profiled):
    lead = LeadFactory(first_name="Ann", company="", attributes={"topic": "a"})
    visitor = VisitorFactory(lead=lead)

    response = fields_for(client, profiled, vid=visitor_sign(visitor.id))
    forged = fields_for(client, profiled, vid=f"{visitor.id}:forged")

    assert response.json() == {"fields": ["email", "company"]}
    assert forged.json() == {"fields": ["email", "first_name"]}


def test_fields_of_a_form_without_profiling_are_all_of_them(client, form):
    LeadFactory(email="ann@example.com", first_name="Ann")

    response = fields_for(client, form, email="ann@example.com")

    assert response.json() == {"fields": ["email", "first_name", "company", "topic"]}


def test_fields_refuses_other_origins_and_is_rate_limited(client, profiled, settings):
    settings.FORM_RATE_PER_IP = "2/minute"

    refused = client.get(f"/f/{profiled.key}/fields/", HTTP_ORIGIN="https://evil.example")
    fields_for(client, profiled, email="a@example.com")
    fields_for(client, profiled, email="b@example.com")
    limited = fields_for(client, profiled, email="c@example.com")

    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
