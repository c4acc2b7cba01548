"""The Django admin: superusers can open every LeadHub model; service-owned fields and
history stay read-only there."""

import pytest

from capture.models import Activity, ActivityKind, Lead
from leadhub.models import User
from tests.factories import ActivityFactory, LeadFactory, StageTransitionFactory, UserFactory

CHANGELISTS = [
    "/admin/capture/lead/",
    "/admin/capture/activity/",
    "/admin/pipeline/stagetransition/",
    "/admin/leadhub/user/",
]


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def history(rep):
    lead = LeadFactory(email="ann@example.com", first_name="Ann", owner=rep, score=40, grade="B")
    return {
        "lead": lead,
        "activity": ActivityFactory(lead=lead),
        "transition": StageTransitionFactory(lead=lead, by_user=rep),
    }


@pytest.mark.parametrize("url", CHANGELISTS)
def test_it_opens_the_changelists_for_a_superuser(client, superuser, history, url):
    client.force_login(superuser)
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("url", CHANGELISTS)
def test_it_keeps_people_without_staff_status_out(client, admin_user, url):
    client.force_login(admin_user)  # an Admin role is not staff status
    assert client.get(url)["Location"].startswith("/admin/login/")


def test_it_searches_leads_by_email_name_and_company(client, superuser, history):
    LeadFactory(email="bob@example.com", first_name="Bob", company="Initech")
    client.force_login(superuser)
    for q, expected in (("ann@", ["ann@example.com"]), ("bob", ["bob@example.com"]),
                        ("initech", ["bob@example.com"])):
        response = client.get("/admin/capture/lead/", {"q": q})
        assert [lead.email for lead in response.context["cl"].result_list] == expected


def test_it_filters_leads_by_stage_and_grade(client, superuser, history):
    LeadFactory(email="zed@example.com", stage="mql", grade="A")
    client.force_login(superuser)
    response = client.get("/admin/capture/lead/", {"stage__exact": "mql", "grade__exact": "A"})
    assert [lead.email for lead in response.context["cl"].result_list] == ["zed@example.com"]


def test_it_shows_score_grade_stage_and_owner_read_only(client, superuser, history):
    lead = history["lead"]
    client.force_login(superuser)
    page = client.get(f"/admin/capture/lead/{lead.pk}/change/")
    assert page.status_code == 200
    form_fields = set(page.context["adminform"].form.fields)
    assert {"score", "grade", "stage", "owner"}.isdisjoint(form_fields)
    assert {"email", "first_name", "company"} <= form_fields


def test_it_saves_lead_edits_through_the_service_with_an_activity(client, superuser, history):
    lead = history["lead"]
    client.force_login(superuser)
    response = client.post(
        f"/admin/capture/lead/{lead.pk}/change/",
        {"email": "ann@example.com", "first_name": "Annie", "last_name": lead.last_name,
         "company": lead.company, "job_title": lead.job_title, "phone": "", "website": "",
         "country": "", "industry": "", "company_size": "", "attributes": "{}",
         "stage": "customer", "score": "999"},
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.first_name, lead.stage, lead.score) == ("Annie", "lead", 40)
    update = Activity.objects.get(lead=lead, kind=ActivityKind.LEAD_UPDATED)
    assert update.data["changes"]["first_name"] == {"old": "Ann", "new": "Annie"}
    assert update.actor == superuser


def test_it_refuses_a_duplicate_email_as_a_form_error(client, superuser, history):
    client.force_login(superuser)
    response = client.post(
        "/admin/capture/lead/add/", {"email": " ANN@example.com", "attributes": "{}"}
    )
    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors)
    assert Lead.objects.count() == 1


@pytest.mark.parametrize(
    "url", ["/admin/capture/activity/{activity}/change/",
            "/admin/pipeline/stagetransition/{transition}/change/"]
)
def test_it_shows_history_read_only(client, superuser, history, url):
    client.force_login(superuser)
    url = url.format(activity=history["activity"].pk, transition=history["transition"].pk)
    page = client.get(url)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert not page.context["has_delete_permission"]
    assert client.get(url.replace("/change/", "/delete/")).status_code == 403
    assert client.get(url.rsplit("/", 3)[0] + "/add/").status_code == 403


def test_it_refuses_two_role_groups_on_a_user(client, superuser, rep):
    from django.contrib.auth.models import Group

    client.force_login(superuser)
    groups = Group.objects.filter(name__in=["Marketer", "Sales rep"]).values_list("pk", flat=True)
    response = client.post(
        f"/admin/leadhub/user/{rep.pk}/change/",
        {"username": "sam", "first_name": "Sam", "last_name": "Seller", "email": rep.email,
         "is_active": "on", "groups": list(groups), "date_joined_0": "2025-01-01",
         "date_joined_1": "00:00:00"},
    )
    assert response.status_code == 200
    assert "A user has one role" in str(response.context["adminform"].form.errors)
    assert User.objects.get(pk=rep.pk).role == "Sales rep"


def test_it_leaves_token_keys_out_of_the_admin(client, superuser):
    client.force_login(superuser)
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404


def test_it_shows_role_groups_read_only(client, superuser):
    from django.contrib.auth.models import Group

    client.force_login(superuser)
    marketers = Group.objects.get(name="Marketer")
    page = client.get(f"/admin/auth/group/{marketers.pk}/change/")
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    response = client.post(f"/admin/auth/group/{marketers.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Group.objects.filter(name="Marketer").exists()
