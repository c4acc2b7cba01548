"""Taking a lead out of a sequence from the lead page: marketers and admins, and those
who work the pipeline (sales reps); not someone who may only read leads."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from nurture.models import EnrollmentState
from nurture.services import enrollment_create
from tests.factories import LeadFactory, UserFactory
from tests.nurture.conftest import make_sequence

pytestmark = pytest.mark.django_db


@pytest.fixture
def enrollment():
    return enrollment_create(sequence=make_sequence(name="Welcome"),
                             lead=LeadFactory(email="nora@acme.example"))


@pytest.fixture
def reader(db):
    """Reads leads (capture.view_lead), in no role: neither nurture nor the pipeline."""
    user = UserFactory(username="reed")
    user.user_permissions.add(Permission.objects.get(codename="view_lead",
                                                     content_type__app_label="capture"))
    return user


def card(client, lead) -> str:
    html = client.get(reverse("pipeline:lead_detail", args=[lead.pk])).content.decode()
    return html.split('data-testid="lead-sequences"', 1)[1]


@pytest.mark.parametrize("role", ["rep", "marketer", "admin_user"])
def test_reps_marketers_and_admins_remove_a_lead_from_the_lead_page(client, request,
                                                                    enrollment, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    lead_url = reverse("pipeline:lead_detail", args=[enrollment.lead_id])
    assert 'data-testid="lead-sequence-remove"' in card(client, enrollment.lead)

    response = client.post(reverse("nurture:enrollment_exit", args=[enrollment.pk]),
                           {"next": lead_url}, follow=True)

    assert response.redirect_chain[-1][0] == lead_url
    assert "Removed nora@acme.example from “Welcome”" in response.content.decode()
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.exit_reason) == (EnrollmentState.EXITED,
                                                          "removed by hand")
    exited = enrollment.lead.activities.get(kind="sequence_exited")
    assert exited.actor == user


def test_a_user_who_only_reads_leads_may_not_remove_one(client, reader, enrollment):
    client.force_login(reader)
    assert 'data-testid="lead-sequence-remove"' not in card(client, enrollment.lead)
    response = client.post(reverse("nurture:enrollment_exit", args=[enrollment.pk]))
    assert response.status_code == 403
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.ACTIVE


def test_users_without_a_role_and_visitors_are_refused(client, outsider, enrollment):
    url = reverse("nurture:enrollment_exit", args=[enrollment.pk])
    assert client.post(url)["Location"].startswith(reverse("login"))
    client.force_login(outsider)
    assert client.post(url).status_code == 403
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.ACTIVE


def test_a_rep_removing_twice_is_told_it_had_left(client, rep, enrollment):
    client.force_login(rep)
    url = reverse("nurture:enrollment_exit", args=[enrollment.pk])
    client.post(url)
    again = client.post(url, follow=True)
    assert again.status_code == 200  # the sequence's enrollments page, which reps may read
    assert "had already left" in again.content.decode()
