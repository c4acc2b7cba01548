"""Proof of work on forms that ask for it: the server side (capture.spam.pow_check, as
the hosted page and the JSON endpoint see it) and the challenge LeadHub's pages give."""

import hashlib
import json
import re
from html import unescape

import pytest

from capture.models import Submission
from capture.spam import POW_MAX_AGE, _leading_zero_bits
from tests.factories import FormFactory

pytestmark = pytest.mark.django_db

DIFFICULTY = 8  # the browser solves 15; 8 keeps these tests fast


@pytest.fixture(autouse=True)
def _easy(settings):
    settings.FORM_POW_DIFFICULTY = DIFFICULTY


@pytest.fixture
def form():
    return FormFactory(with_fields=True, proof_of_work=True, min_seconds=0)


def solve(challenge: str, difficulty: int = DIFFICULTY) -> str:
    counter = 0
    while _leading_zero_bits(hashlib.sha256(f"{challenge}:{counter}".encode()).digest()) < (
        difficulty
    ):
        counter += 1
    return f"{challenge}:{counter}"


def challenge_from(client, form) -> str:
    return client.get(f"/f/{form.key}/challenge/").json()["challenge"]


def post(client, form, pow_solution=None, email="ann@example.com"):
    body = {"email": email}
    if pow_solution is not None:
        body["_lh_pow"] = pow_solution
    return client.post(f"/api/v1/forms/{form.key}/submissions/", json.dumps(body),
                       content_type="application/json")


def test_it_accepts_a_solved_challenge_once(client, form):
    solution = solve(challenge_from(client, form))

    first = post(client, form, solution)
    again = post(client, form, solution, email="bob@example.com")

    assert first.status_code == again.status_code == 201  # bots learn nothing
    genuine, replayed = Submission.objects.order_by("id")
    assert (genuine.is_spam, genuine.lead is not None) == (False, True)
    assert (replayed.is_spam, replayed.spam_reason, replayed.lead) == (
        True, "proof of work reused", None)


def test_a_missing_proof_of_work_is_spam(client, form):
    response = post(client, form)

    assert response.status_code == 201
    assert isinstance(response.json()["lead"], int)  # a decoy: bots learn nothing
    submission = Submission.objects.get()
    assert (submission.is_spam, submission.spam_reason) == (True, "proof of work missing")


def unsolved(challenge: str) -> str:
    """A counter that does not solve the challenge."""
    counter = 0
    while _leading_zero_bits(hashlib.sha256(f"{challenge}:{counter}".encode()).digest()) >= (
        DIFFICULTY
    ):
        counter += 1
    return f"{challenge}:{counter}"


@pytest.mark.parametrize(("mangle", "reason"), [
    (lambda s: unsolved(s.rsplit(":", 1)[0]), "proof of work wrong"),
    (lambda s: "x" + s, "proof of work forged"),
    (lambda s: s.rsplit(":", 1)[0] + ":-5", "proof of work missing"),
])
def test_a_wrong_or_forged_solution_is_spam(client, form, mangle, reason):
    solution = solve(challenge_from(client, form))

    post(client, form, mangle(solution))

    assert Submission.objects.get().spam_reason == reason


def test_a_challenge_for_another_form_is_spam(client, form):
    other = FormFactory(with_fields=True, proof_of_work=True)
    solution = solve(challenge_from(client, other))

    post(client, form, solution)

    assert Submission.objects.get().spam_reason == "proof of work for another form"


def test_an_expired_challenge_is_spam(client, form, time_machine):
    time_machine.move_to("2026-03-01 12:00:00", tick=False)
    solution = solve(challenge_from(client, form))
    time_machine.move_to("2026-03-01 13:00:05", tick=False)

    post(client, form, solution)

    assert POW_MAX_AGE == 3600
    assert Submission.objects.get().spam_reason == "proof of work expired"


def test_a_form_without_proof_of_work_does_not_ask_for_one(client):
    form = FormFactory(with_fields=True, min_seconds=0)

    post(client, form)

    assert not Submission.objects.get().is_spam


def test_the_hosted_page_carries_a_challenge_in_json_script_and_a_solved_post_counts(
    client, form
):
    html = client.get(f"/f/{form.key}/").content.decode()
    data = re.search(rf'<script id="lh-pow-{form.key}" type="application/json">(.*?)</script>',
                     html, re.S)
    token = re.search(r'name="_lh_token" value="([^"]*)"', html).group(1)

    assert data, "no proof-of-work data on the page"
    pow_data = json.loads(data.group(1))
    assert pow_data["difficulty"] == DIFFICULTY
    assert pow_data["url"] == f"/f/{form.key}/challenge/"
    assert f'data-lh-pow="lh-pow-{form.key}"' in html
    assert 'name="_lh_pow"' in html
    assert "js/lh-pow.js" in html and "js/public-form.js" in html
    response = client.post(f"/f/{form.key}/", {
        "email": "ann@example.com", "_lh_token": unescape(token),
        "_lh_pow": solve(pow_data["challenge"])})
    assert response.status_code == 303
    assert not Submission.objects.get().is_spam


def test_pages_of_forms_without_proof_of_work_load_no_solver(client):
    form = FormFactory(with_fields=True)

    html = client.get(f"/f/{form.key}/").content.decode()

    assert "lh-pow.js" not in html and "_lh_pow" not in html


# A Redis nobody listens on: every cache call fails at once (connection refused).
UNREACHABLE_REDIS = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                 "LOCATION": "redis://127.0.0.1:1/0"}}


@pytest.fixture
def redis_down(client, form, settings):
    """The challenge is fetched while the cache works; then Redis goes away."""
    challenge = challenge_from(client, form)
    settings.CACHES = UNREACHABLE_REDIS
    return challenge


def test_with_the_cache_down_a_solved_challenge_is_still_accepted(client, form, redis_down,
                                                                   caplog):
    response = post(client, form, solve(redis_down))

    assert response.status_code == 201
    submission = Submission.objects.get()
    assert (submission.is_spam, submission.spam_reason) == (False, "")
    assert response.json()["lead"] == submission.lead_id
    assert "pow-used not checked" in caplog.text


def test_with_the_cache_down_the_work_itself_is_still_checked(client, form, redis_down):
    response = post(client, form, unsolved(redis_down))

    assert response.status_code == 201
    assert Submission.objects.get().spam_reason == "proof of work wrong"


def test_with_the_cache_down_a_replay_goes_unnoticed(client, form, redis_down):
    """Failing open: a replay is let through while Redis is down (as the rate limits
    let bursts through), rather than every genuine post of the form filed as spam."""
    solution = solve(redis_down)

    post(client, form, solution)
    post(client, form, solution, email="bob@example.com")

    assert [s.is_spam for s in Submission.objects.order_by("id")] == [False, False]
