"""/leads/<id>/delete/: a confirmation page, then deletion by admins only."""

import pytest
from django.urls import reverse

from capture.models import Activity, Lead
from tests.factories import ActivityFactory, LeadFactory


def url(lead) -> str:
    return reverse("pipeline:lead_delete", args=[lead.pk])


def test_it_asks_for_confirmation_and_deletes_nothing_on_get(client, admin_user):
    lead = LeadFactory(first_name="Ann", last_name="Lee", email="ann@example.com")
    ActivityFactory.create_batch(3, lead=lead)
    client.force_login(admin_user)
    response = client.get(url(lead))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Delete Ann Lee?" in html
    assert "3 activities" in html
    assert f'action="{url(lead)}"' in html and 'method="post"' in html
    assert Lead.objects.filter(pk=lead.pk).exists()
    assert Activity.objects.count() == 3


def test_it_lets_an_admin_delete_a_lead_and_its_timeline(client, admin_user):
    lead = LeadFactory(first_name="Ann", last_name="Lee")
    ActivityFactory.create_batch(2, lead=lead)
    keep = LeadFactory()
    client.force_login(admin_user)
    response = client.post(url(lead), follow=True)
    assert response.redirect_chain == [(reverse("pipeline:lead_list"), 302)]
    assert "Lead “Ann Lee” and its timeline were deleted." in response.content.decode()
    assert list(Lead.objects.all()) == [keep]
    assert not Activity.objects.exists()


@pytest.mark.parametrize("role", ["marketer", "rep", "outsider"])
def test_it_forbids_everyone_but_admins(client, request, role):
    user = request.getfixturevalue(role)
    lead = LeadFactory()
    client.force_login(user)
    assert client.get(url(lead)).status_code == 403
    assert client.post(url(lead)).status_code == 403
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_it_answers_404_for_an_unknown_lead(client, admin_user):
    client.force_login(admin_user)
    assert client.post(reverse("pipeline:lead_delete", args=[31337])).status_code == 404


def test_it_refuses_anonymous_visitors(client, db):
    lead = LeadFactory()
    response = client.post(url(lead))
    assert response.status_code == 302
    assert Lead.objects.filter(pk=lead.pk).exists()
