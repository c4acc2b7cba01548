import pytest
from django.db import IntegrityError, transaction

from leadhub.models import User

pytestmark = pytest.mark.django_db


def test_a_user_without_a_role_is_told_to_ask_an_admin(client, outsider):
    client.force_login(outsider)

    response = client.get("/leads/")

    assert response.status_code == 403
    assert "Your account has no role yet" in response.content.decode()


def test_a_role_that_lacks_the_permission_is_named(client, marketer):
    client.force_login(marketer)

    response = client.get("/settings/users/")

    assert response.status_code == 403
    assert "Your role (Marketer) does not allow this" in response.content.decode()


def test_an_unknown_page_is_a_friendly_404(client, rep):
    client.force_login(rep)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "There is nothing at this address" in response.content.decode()


def test_usernames_are_unique_whatever_their_case_in_the_database():
    User.objects.create(username="sam")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="SAM")


def test_an_api_server_error_is_json_and_a_page_error_is_html(admin_user, monkeypatch):
    from django.test import Client

    from pipeline.api import LeadViewSet
    from pipeline.views import LeadListView

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(LeadViewSet, "list", broken)
    monkeypatch.setattr(LeadListView, "get", broken)
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)

    api = client.get("/api/v1/leads/")
    page = client.get("/leads/")

    assert api.status_code == 500
    assert api.json() == {"detail": "Server error. It was logged; please retry later."}
    assert page.status_code == 500
    assert "Something went wrong" in page.content.decode()
