"""One lead per email holds when two API clients create it at the same moment."""

import threading

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from capture.models import Lead
from tests.api.paths import LEADS_URL

ROUNDS = 5


def post_at_once(payloads: list[dict], key: str) -> list:
    barrier = threading.Barrier(len(payloads))
    responses: list = [None] * len(payloads)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
            # Authenticate before the barrier, so both threads reach the INSERT together.
            api.get(LEADS_URL, {"page_size": 1})
            barrier.wait(timeout=10)
            responses[i] = api.post(LEADS_URL, payloads[i])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return responses


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_makes_one_lead_from_two_concurrent_creates_of_one_email(marketer):
    key = Token.objects.create(user=marketer).key

    for round_ in range(ROUNDS):
        email = f"race{round_}@example.com"
        responses = post_at_once(
            [{"email": email.capitalize()}, {"email": f" {email.upper()} "}], key
        )

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 400], [r.content for r in responses]
        [refused] = [r for r in responses if r.status_code == 400]
        assert refused.json() == {"email": ["A lead with this email already exists."]}
        assert Lead.objects.with_email(email).count() == 1
    assert Lead.objects.count() == ROUNDS
