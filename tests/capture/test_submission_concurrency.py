import threading

import pytest
from django.db import connection
from django.test import Client

from capture.models import Activity, ActivityKind, Lead, Submission
from tests.factories import FormFactory

CASES = ["ann@example.com", "Ann@Example.com", "ANN@EXAMPLE.COM", "  ann@EXAMPLE.com "]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_20_concurrent_submissions_for_one_email_give_one_lead(settings, monkeypatch):
    settings.FORM_RATE_PER_IP = settings.FORM_RATE_PER_FORM = "1000/minute"
    form = FormFactory(with_fields=True)
    url = f"/api/v1/forms/{form.key}/submissions/"
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def submit(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            response = Client().post(
                url, {"email": CASES[i % len(CASES)], "first_name": f"Ann {i}"},
                content_type="application/json",
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert statuses == [201] * 20
    assert Lead.objects.count() == 1
    lead = Lead.objects.get()
    assert Submission.objects.filter(lead=lead).count() == 20
    assert Activity.objects.filter(lead=lead, kind=ActivityKind.FORM_SUBMITTED).count() == 20
    assert sum(a.data["new_lead"] for a in Activity.objects.filter(kind="form_submitted")) == 1
