"""The quick start's demo content: a live form, its landing page and a sequence the form
feeds, all working together, made once."""

import pytest

from capture.models import Form, Lead
from leadhub.demo.content import PAGE_SLUG, demo_content_ensure
from nurture.models import Enrollment, Sequence
from tests.factories import FormFactory

pytestmark = pytest.mark.django_db


def test_a_visitor_of_the_demo_page_becomes_a_lead_in_the_demo_sequence(
    client, settings, django_capture_on_commit_callbacks
):
    settings.ACTIVITY_HANDLERS = ["nurture.handlers.activity_enroll_and_exit"]
    content = demo_content_ensure()

    page = client.get(f"/p/{PAGE_SLUG}/")
    assert page.status_code == 200
    assert "Work email" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):  # the follow-up task, eager
        response = client.post(f"/api/v1/forms/{content.form.key}/submissions/",
                               {"email": "nora@example.com", "first_name": "Nora",
                                "team_size": "11–50"}, content_type="application/json")

    assert response.status_code == 201, response.content
    lead = Lead.objects.get(email="nora@example.com")
    assert lead.attributes == {"team_size": "11–50"}
    enrollment = Enrollment.objects.get(lead=lead)
    assert enrollment.sequence.name == content.sequence_name == "Playbook follow-up"
    assert enrollment.sequence.steps.count() == 2


def test_it_is_made_once_and_never_over_a_marketers_own_forms():
    assert demo_content_ensure() is not None
    assert demo_content_ensure() is None
    assert (Form.objects.count(), Sequence.objects.count()) == (1, 1)


def test_a_database_with_forms_gets_no_demo_content():
    FormFactory()

    assert demo_content_ensure() is None
    assert not Sequence.objects.exists()
