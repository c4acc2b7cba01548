"""``manage.py bootstrap`` and ``manage.py demo_data``: the quick start's accounts and
demo leads."""

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import Count
from django.db.models.functions import Lower
from django.utils import timezone

from capture.models import Activity, ActivityKind, Lead, Stage
from capture.services import lead_create
from leadhub.models import User
from leadhub.roles import ADMIN, MARKETER, SALES_REP
from pipeline.models import StageTransition

pytestmark = pytest.mark.django_db

LOGIN_LINE = re.compile(r"^\s+(admin|mia|sam)\s+(\S+)\s+", re.MULTILINE)


@pytest.fixture(autouse=True)
def var_dir(tmp_path, settings):
    """Each test keeps its credentials file in its own folder."""
    settings.VAR_DIR = tmp_path
    return tmp_path


def bootstrap(*args) -> tuple[str, dict[str, str]]:
    out = StringIO()
    call_command("bootstrap", *args, stdout=out)
    text = out.getvalue()
    return text, dict(LOGIN_LINE.findall(text))


def test_it_creates_the_admin_and_demo_users_and_prints_working_passwords(var_dir):
    text, printed = bootstrap("--no-demo-data")

    assert set(printed) == {"admin", "mia", "sam"}
    for username, password in printed.items():
        assert authenticate(username=username, password=password) is not None, username
    assert {u.username: u.role for u in User.objects.all()} == {
        "admin": ADMIN, "mia": MARKETER, "sam": SALES_REP}
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert str(var_dir / "credentials.json") in text
    assert json.loads((var_dir / "credentials.json").read_text()) == printed


def test_it_keeps_the_passwords_readable_by_the_owner_only(var_dir):
    bootstrap("--no-demo-data")
    path = var_dir / "credentials.json"
    assert path.stat().st_mode & 0o777 == 0o600

    path.chmod(0o644)
    bootstrap("--no-demo-data")
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_second_run_reuses_the_passwords_and_duplicates_nothing():
    _, first = bootstrap()
    leads, users = Lead.objects.count(), User.objects.count()
    assert leads >= 250

    text, second = bootstrap()

    assert second == first
    assert (Lead.objects.count(), User.objects.count()) == (leads, users)
    assert "created" not in text  # neither users nor demo leads


def test_it_recreates_wiped_users_with_the_stored_passwords():
    _, first = bootstrap("--no-demo-data")
    User.objects.all().delete()

    text, second = bootstrap("--no-demo-data")

    assert second == first
    assert text.count("(recreated)") == 3
    assert authenticate(username="sam", password=first["sam"]) is not None


def test_it_stops_printing_a_password_someone_changed():
    bootstrap("--no-demo-data")
    admin = User.objects.get(username="admin")
    admin.set_password("a new password only Ada knows")
    admin.save()

    text, printed = bootstrap("--no-demo-data")

    assert printed["admin"] == "(not"
    assert "password changed in LeadHub" in text
    assert authenticate(username="admin", password="a new password only Ada knows")


def test_it_leaves_an_account_it_did_not_make_alone(var_dir):
    User.objects.create_user(username="admin", password="chosen by the operator")

    text, printed = bootstrap("--no-demo-data")

    assert printed["admin"] == "(not"
    assert "not managed here" in text
    assert authenticate(username="admin", password="chosen by the operator")
    assert json.loads((var_dir / "credentials.json").read_text()).keys() == {"mia", "sam"}


def test_demo_data_makes_leads_with_timelines_stages_and_owners():
    bootstrap("--no-demo-data")
    out = StringIO()

    call_command("demo_data", "--count", "80", stdout=out)

    assert "Created 80 demo leads" in out.getvalue()
    leads = Lead.objects.all()
    assert leads.count() == 80
    now = timezone.now()
    assert all(now - timedelta(days=91) < lead.created_at <= now for lead in leads)
    stages = dict(leads.values_list("stage").annotate(n=Count("id")))
    assert stages[Stage.LEAD] > stages.get(Stage.SQL, 0)
    assert {Stage.MQL, Stage.SQL} <= set(stages)

    # Every lead has its creation and a timeline around it.
    created = Activity.objects.filter(kind=ActivityKind.LEAD_CREATED)
    assert set(created.values_list("lead_id", flat=True)) == set(leads.values_list("id", flat=True))
    assert Activity.objects.filter(kind=ActivityKind.PAGE_VIEWED).count() > 80
    assert Activity.objects.filter(kind=ActivityKind.FORM_SUBMITTED).exists()
    view = Activity.objects.filter(kind=ActivityKind.PAGE_VIEWED).first()
    assert view.data["url"].startswith("https://") and view.processed_at is not None

    # Stages were reached through pipeline.services: a transition and an activity each,
    # ending in the lead's stage, with reasons where the pipeline demands them.
    for lead in leads.exclude(stage=Stage.LEAD):
        transitions = list(lead.transitions.order_by("created_at", "id"))
        assert transitions and transitions[-1].to_stage == lead.stage
        assert lead.stage_changed_at == transitions[-1].created_at
    transitions = StageTransition.objects.all()
    assert Activity.objects.filter(kind=ActivityKind.STAGE_CHANGED).count() == transitions.count()
    assert all(t.reason for t in transitions.filter(to_stage=Stage.DISQUALIFIED))

    # Whoever works a lead past MQL owns it: the demo rep or the admin.
    worked = leads.filter(stage__in=[Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER])
    assert set(worked.values_list("owner__username", flat=True)) <= {"sam", "admin"}
    assert not worked.filter(owner=None).exists()
    assert leads.exclude(grade="").count() == 80
    assert worked.filter(score__gte=50).count() == worked.count()


def test_demo_data_is_the_same_for_the_same_seed():
    def snapshot():
        return sorted(Lead.objects.values_list("email", "stage", "grade", "company"))

    call_command("demo_data", "--count", "30", "--seed", "7", stdout=StringIO())
    first = snapshot()
    Lead.objects.all().delete()
    call_command("demo_data", "--count", "30", "--seed", "7", stdout=StringIO())

    assert snapshot() == first
    call_command("demo_data", "--count", "30", "--seed", "8", stdout=StringIO())
    assert len(snapshot()) > 30


def test_demo_data_keeps_one_lead_per_email():
    call_command("demo_data", "--count", "30", stdout=StringIO())
    taken = Lead.objects.order_by("id").first().email
    Lead.objects.all().delete()
    lead_create(email=f"  {taken.upper()}")  # the same person, typed differently
    out = StringIO()

    call_command("demo_data", "--count", "30", stdout=out)
    call_command("demo_data", "--count", "30", stdout=out)

    assert Lead.objects.count() == 30
    emails = Lead.objects.annotate(e=Lower("email")).values("e").distinct()
    assert emails.count() == 30
    assert "1 skipped" in out.getvalue() and "all 30 of their emails" in out.getvalue()
