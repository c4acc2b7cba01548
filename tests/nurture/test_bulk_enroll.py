"""Adding a selection from the leads list to a sequence: the leads list's boxes and form
(for marketers and admins) post to nurture:leads_enroll, which enrolls through
``enrollments_create_bulk`` (the rules of ``enrollment_create``, set-based) and says how
many were enrolled and how many skipped and why; "all N leads matching these filters" is
capped with a clear message."""

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from capture.models import Activity, Lead
from nurture.models import Enrollment, EnrollmentState
from nurture.services import (
    enrollment_create,
    enrollment_exit,
    enrollment_refusal,
    enrollments_create_bulk,
    lead_unsubscribe,
    suppression_add,
)
from nurture.views import enrollments as views
from tests.factories import LeadFactory
from tests.nurture.conftest import make_sequence

pytestmark = pytest.mark.django_db

ENROLL = reverse("nurture:leads_enroll")
LIST = reverse("pipeline:lead_list")


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


def flash(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def in_sequence(sequence) -> set[str]:
    return set(Enrollment.objects.filter(sequence=sequence, state=EnrollmentState.ACTIVE)
               .values_list("lead__email", flat=True))


# --- The service ------------------------------------------------------------------------------


def test_bulk_enrolment_applies_the_same_rules_as_one_enrollment():
    """Every refusal enrollment_create knows, decided the same way for the same lead."""
    sequence = make_sequence(reenrollment="never", exit_on_stage="sql")
    again = make_sequence(name="Again", reenrollment="after_finished")
    fresh, gone, bounced, sql, busy, before = (
        LeadFactory(email=f"{n}@example.com") for n in
        ("fresh", "gone", "bounced", "sql", "busy", "before"))
    lead_unsubscribe(lead=gone, how="test")
    suppression_add(email=bounced.email.upper())
    Lead.objects.filter(pk=sql.pk).update(stage="sql")
    enrollment_create(sequence=sequence, lead=busy)
    enrollment_exit(enrollment=enrollment_create(sequence=sequence, lead=before), reason="x")
    enrollment_exit(enrollment=enrollment_create(sequence=again, lead=before), reason="x")
    leads = list(Lead.objects.order_by("pk"))
    expected = {lead.email: enrollment_refusal(sequence=sequence, lead=lead) for lead in leads}

    result = enrollments_create_bulk(sequence=sequence, lead_ids=[lead.pk for lead in leads])

    assert {lead.email for lead in leads if lead.pk in result.enrolled} == {
        email for email, refusal in expected.items() if refusal is None} == {
        "fresh@example.com"}
    assert result.skipped == {"unsubscribed": 1, "suppressed": 1, "past_exit_stage": 1,
                              "already_enrolled": 1, "enrolled_before": 1}
    assert result.skipped_text().startswith("1 ")
    again_result = enrollments_create_bulk(sequence=again, lead_ids=[before.pk])
    assert again_result.enrolled == [before.pk]  # after_finished: a finished run may rerun
    enrollment = Enrollment.objects.get(sequence=sequence, lead=fresh)
    assert enrollment.next_step.position == 1 and enrollment.next_due_at is not None
    activity = Activity.objects.get(lead=fresh, kind="sequence_enrolled")
    assert activity.data == {"sequence": sequence.pk, "enrollment": enrollment.pk,
                             "source": "manual", "sequence_name": sequence.name}
    # Run twice: nobody twice.
    assert enrollments_create_bulk(sequence=sequence, lead_ids=[fresh.pk]).enrolled == []


def test_bulk_enrolment_costs_the_same_queries_for_80_leads_as_for_5():
    # 80: SQLite takes at most 999 parameters per statement, so Django splits a longer
    # INSERT of enrollments (11 columns); Postgres takes them all in one.
    sequence = make_sequence()
    few, many = LeadFactory.create_batch(5), LeadFactory.create_batch(80)
    counts = []
    for leads in (few, many):
        with CaptureQueriesContext(connection) as queries:
            result = enrollments_create_bulk(sequence=sequence,
                                             lead_ids=[lead.pk for lead in leads])
        assert len(result.enrolled) == len(leads)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_chunk_that_loses_a_race_is_enrolled_one_lead_at_a_time():
    sequence = make_sequence()
    leads = LeadFactory.create_batch(3)
    enrollment_create(sequence=sequence, lead=leads[0])  # enrolled meanwhile (see below)
    real = Enrollment.objects.bulk_create

    def racing(objs, *args, **kwargs):
        # The check ran before leads[0] was enrolled: the insert meets the one-active-run
        # constraint, as it would after a concurrent enrollment.
        return real([*objs, Enrollment(sequence=sequence, lead=leads[0],
                                       next_step=objs[0].next_step)], *args, **kwargs)

    with mock.patch.object(type(Enrollment.objects), "bulk_create", side_effect=racing):
        result = enrollments_create_bulk(sequence=sequence,
                                         lead_ids=[lead.pk for lead in leads[1:]])
    assert sorted(result.enrolled) == sorted(lead.pk for lead in leads[1:])
    assert Enrollment.objects.filter(sequence=sequence, state="active").count() == 3
    assert Activity.objects.filter(kind="sequence_enrolled").count() == 3


def test_drafts_and_sequences_without_steps_are_refused_whole():
    lead = LeadFactory()
    for sequence in (make_sequence(status="draft"), make_sequence(name="Empty", steps=[],
                                                                  status="paused")):
        with pytest.raises(Exception) as exc:
            enrollments_create_bulk(sequence=sequence, lead_ids=[lead.pk])
        assert "sequence" in exc.value.message_dict
    assert not Enrollment.objects.exists()


# --- The leads list and the view ----------------------------------------------------------------


def test_the_leads_list_offers_the_selection_to_marketers_and_posts_to_nurture(
        marketer_client, client, rep):
    make_sequence(name="Active one")
    make_sequence(name="Draft one", status="draft")
    lead = LeadFactory(email="ann@example.com")
    html = marketer_client.get(LIST).content.decode()
    assert f'action="{ENROLL}"' in html
    assert f'name="lead" value="{lead.pk}" form="lead-actions"' in html
    assert 'data-testid="select-page"' in html
    assert "Active one" in html and "Draft one" not in html
    assert "All 1 leads matching these filters" in html

    client.force_login(rep)
    rep_html = client.get(LIST).content.decode()
    assert ENROLL not in rep_html and 'data-testid="select-lead"' not in rep_html


def test_a_marketer_adds_a_selection_and_hears_what_was_skipped(marketer_client, marketer):
    sequence = make_sequence(name="Welcome")
    new1, new2, busy, gone, bounced = (LeadFactory(email=f"{n}@example.com") for n in
                                       ("new1", "new2", "busy", "gone", "bounced"))
    enrollment_create(sequence=sequence, lead=busy)
    lead_unsubscribe(lead=gone, how="test")
    suppression_add(email=bounced.email)
    back = f"{LIST}?stage=lead"

    response = marketer_client.post(ENROLL, {
        "sequence": sequence.pk, "scope": "selected", "next": back,
        "lead": [new1.pk, new2.pk, busy.pk, gone.pk, bounced.pk]}, follow=True)

    assert response.redirect_chain[-1][0] == back
    text = flash(response)
    assert "Added 2 leads to “Welcome”." in text
    assert "Skipped 3:" in text
    for reason in ("1 already in it", "1 unsubscribed", "1 suppressed"):
        assert reason in text
    assert in_sequence(sequence) == {"new1@example.com", "new2@example.com",
                                     "busy@example.com"}
    enrolled = Enrollment.objects.get(lead=new1)
    assert enrolled.source == "manual"
    assert Activity.objects.get(lead=new1, kind="sequence_enrolled").actor == marketer


def test_select_all_on_this_page_takes_the_pages_leads(marketer_client):
    sequence = make_sequence()
    leads = LeadFactory.create_batch(3)
    LeadFactory(email="not-on-page@example.com")
    response = marketer_client.post(ENROLL, {
        "sequence": sequence.pk, "scope": "selected", "page_all": "1",
        "page_lead": [lead.pk for lead in leads]}, follow=True)
    assert "Added 3 leads" in flash(response)
    assert "not-on-page@example.com" not in in_sequence(sequence)


def test_all_leads_matching_the_filters(marketer_client, marketer):
    sequence = make_sequence()
    LeadFactory(email="mine@example.com", stage="mql", owner=marketer)
    LeadFactory(email="mql@example.com", stage="mql")
    LeadFactory(email="other@example.com", stage="lead", owner=marketer)
    response = marketer_client.post(ENROLL, {
        "sequence": sequence.pk, "scope": "all", "query": "stage=mql&owner=me&sort=-score",
        "lead": []}, follow=True)
    assert "Added 1 lead to" in flash(response)
    assert in_sequence(sequence) == {"mine@example.com"}


def test_all_matching_is_capped_with_a_clear_message(marketer_client, monkeypatch):
    monkeypatch.setattr(views, "BULK_ENROLL_MAX", 2)
    sequence = make_sequence()
    LeadFactory.create_batch(3, stage="mql")
    response = marketer_client.post(ENROLL, {"sequence": sequence.pk, "scope": "all",
                                             "query": "stage=mql"}, follow=True)
    assert "3 leads match these filters: at most 2 can be added at once" in flash(response)
    assert not Enrollment.objects.exists()
    page = marketer_client.get(LIST, {"stage": "mql"}).content.decode()
    assert "More than 2: narrow the filters" in page


@pytest.mark.parametrize(("data", "text"), [
    ({"scope": "selected", "lead": ["1"]}, "Choose an active sequence"),
    ({"sequence": "draft", "scope": "selected"}, "Choose an active sequence"),
    ({"sequence": "abc"}, "Choose an active sequence"),
    ({"sequence": "active", "scope": "selected"}, "Select the leads to add first"),
    ({"sequence": "active", "lead": ["x", "-1", "99999999999999999999999"]},
     "Select the leads to add first"),
    ({"sequence": "active", "scope": "all", "query": "created_after=someday"},
     "some filters could not be read (Created from"),
    ({"sequence": "active", "scope": "all", "query": "stage=customer"},
     "No lead matches these filters"),
])
def test_bad_input_is_said_back_on_the_list_never_a_500(marketer_client, data, text):
    active, draft = make_sequence(name="On"), make_sequence(name="Off", status="draft")
    LeadFactory()
    data = {k: {"active": active.pk, "draft": draft.pk}.get(v, v) if k == "sequence" else v
            for k, v in data.items()}
    response = marketer_client.post(ENROLL, data, follow=True)
    assert response.status_code == 200
    assert text in flash(response)
    assert not Enrollment.objects.exists()


def test_it_goes_back_only_to_this_site(marketer_client):
    sequence = make_sequence()
    lead = LeadFactory()
    response = marketer_client.post(ENROLL, {"sequence": sequence.pk, "lead": [lead.pk],
                                             "next": "https://evil.example/"})
    assert response["Location"] == LIST


def test_only_who_may_manage_nurture_may_enroll(client, rep, outsider):
    sequence = make_sequence()
    lead = LeadFactory()
    data = {"sequence": sequence.pk, "lead": [lead.pk]}
    assert client.post(ENROLL, data)["Location"].startswith(reverse("login"))
    for user in (rep, outsider):
        client.force_login(user)
        assert client.post(ENROLL, data).status_code == 403
    assert not Enrollment.objects.exists()
    assert lead.enrollments.count() == 0
