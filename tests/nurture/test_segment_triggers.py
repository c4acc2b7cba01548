"""The "a lead comes to match a saved segment" trigger (nurture.services.segments):
primed first (leads already in the segment are not enrolled), then set-based enrolment of
the leads that come to match, every enrollment rule applied, re-entry only after leaving,
paused sequences recording without enrolling, the lead checked at once by the activity
handler, and the editor and API that set it up."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from capture.models import Activity, Lead
from capture.services import activity_record
from nurture.handlers import activity_enroll_and_exit
from nurture.models import Enrollment, EnrollmentState, SegmentMatch, SegmentWatch, Sequence
from nurture.services import enrollment_exit, lead_unsubscribe, sequence_update, suppression_add
from nurture.services.segments import segments_evaluate
from tests.factories import LeadFactory, SegmentFactory
from tests.nurture.conftest import make_sequence

pytestmark = pytest.mark.django_db


@pytest.fixture
def mqls():
    return SegmentFactory(name="MQLs", params={"stage": ["mql"]})


def watching(segment, **values):
    values.setdefault("triggers", [{"type": "segment", "segment": segment.pk}])
    return make_sequence(**values)


def enrolled(sequence) -> set[str]:
    return set(Enrollment.objects.filter(sequence=sequence)
               .values_list("lead__email", flat=True))


def move(lead, stage):
    Lead.objects.filter(pk=lead.pk).update(stage=stage)


def test_leads_already_in_the_segment_are_not_enrolled_those_that_come_to_match_are(mqls):
    LeadFactory(email="before@example.com", stage="mql")
    later = LeadFactory(email="later@example.com", stage="lead")
    sequence = watching(mqls)

    assert segments_evaluate() == 0  # the first run records who is there
    watch = SegmentWatch.objects.get(sequence=sequence)
    assert watch.primed_at is not None
    assert SegmentMatch.objects.filter(watch=watch).count() == 1

    move(later, "mql")
    assert segments_evaluate() == 1
    assert enrolled(sequence) == {"later@example.com"}
    enrollment = Enrollment.objects.get()
    assert enrollment.source == "segment" and enrollment.state == EnrollmentState.ACTIVE
    activity = Activity.objects.get(kind="sequence_enrolled")
    assert activity.data["source"] == "segment" and activity.data["sequence"] == sequence.pk
    assert segments_evaluate() == 0  # still matching: not again


def test_a_lead_re_enters_only_after_leaving_the_segment_and_coming_back(mqls):
    sequence = watching(mqls, reenrollment="after_finished", exit_on_stage="")
    segments_evaluate()
    lead = LeadFactory(stage="mql")
    assert segments_evaluate() == 1
    enrollment_exit(enrollment=Enrollment.objects.get(), reason="test")  # finished
    assert segments_evaluate() == 0  # still in the segment: it did not *come* to match
    move(lead, "sql")
    segments_evaluate()
    assert not SegmentMatch.objects.filter(lead=lead).exists()  # left: forgotten
    move(lead, "mql")
    assert segments_evaluate() == 1
    assert Enrollment.objects.filter(sequence=sequence, state="active").count() == 1


def test_never_re_enrol_holds_for_segment_triggers_too(mqls):
    sequence = watching(mqls, reenrollment="never")
    segments_evaluate()
    lead = LeadFactory(stage="mql")
    segments_evaluate()
    enrollment_exit(enrollment=Enrollment.objects.get(), reason="test")
    move(lead, "lead")
    segments_evaluate()
    move(lead, "mql")
    assert segments_evaluate() == 0
    assert Enrollment.objects.filter(sequence=sequence).count() == 1


def test_unsubscribed_suppressed_and_already_enrolled_leads_are_skipped_and_remembered(mqls):
    sequence = watching(mqls, triggers=[{"type": "segment", "segment": mqls.pk},
                                        {"type": "custom_event", "event": "go"}])
    segments_evaluate()
    gone, bounced, busy, fine = (LeadFactory(email=f"{n}@example.com")
                                 for n in ("gone", "bounced", "busy", "fine"))
    lead_unsubscribe(lead=gone, how="test")
    suppression_add(email=bounced.email)
    activity_enroll_and_exit(activity_record(lead=busy, kind="go"))  # in it already
    Lead.objects.filter(pk__in=[gone.pk, bounced.pk, busy.pk, fine.pk]).update(stage="mql")

    assert segments_evaluate() == 1
    assert enrolled(sequence) == {"busy@example.com", "fine@example.com"}
    assert SegmentMatch.objects.count() == 4  # seen, enrolled or not: not retried each run
    assert segments_evaluate() == 0


def test_a_paused_sequence_records_matches_without_enrolling_them(mqls):
    sequence = watching(mqls)
    segments_evaluate()
    sequence_update(sequence=sequence, status="paused")
    LeadFactory(email="during@example.com", stage="mql")
    assert segments_evaluate() == 0
    sequence_update(sequence=sequence, status="active")
    LeadFactory(email="after@example.com", stage="mql")
    assert segments_evaluate() == 1
    assert enrolled(sequence) == {"after@example.com"}  # like its other triggers


def test_a_draft_is_not_watched_and_going_live_primes_it(mqls):
    sequence = watching(mqls, status="draft")
    LeadFactory(email="early@example.com", stage="mql")
    assert segments_evaluate() == 0
    assert SegmentWatch.objects.get().primed_at is None
    sequence_update(sequence=sequence, status="active")
    assert segments_evaluate() == 0  # there when it went live: not enrolled
    LeadFactory(email="new@example.com", stage="mql")
    assert segments_evaluate() == 1
    assert enrolled(sequence) == {"new@example.com"}


def test_saving_the_sequence_keeps_the_watch_and_removing_the_trigger_ends_it(mqls):
    sequence = watching(mqls)
    segments_evaluate()
    LeadFactory(stage="mql")
    watch = SegmentWatch.objects.get()
    sequence_update(sequence=sequence, name="Renamed",
                    triggers=[{"type": "segment", "segment": mqls.pk},
                              {"type": "custom_event", "event": "go"}])
    assert SegmentWatch.objects.get() == watch  # triggers were replaced; the watch was not
    assert segments_evaluate() == 1
    sequence_update(sequence=sequence, triggers=[{"type": "custom_event", "event": "go"}])
    assert not SegmentWatch.objects.exists() and not SegmentMatch.objects.exists()


def test_a_change_the_list_filters_on_is_checked_at_once_by_the_activity_handler(mqls):
    sequence = watching(mqls)
    segments_evaluate()
    lead = LeadFactory(stage="lead")
    move(lead, "mql")
    activity_enroll_and_exit(activity_record(lead=lead, kind="stage_changed",
                                             data={"from": "lead", "to": "mql"}))
    assert enrolled(sequence) == {lead.email}
    move(lead, "lead")
    activity_enroll_and_exit(activity_record(lead=lead, kind="stage_changed",
                                             data={"from": "mql", "to": "lead"}))
    assert not SegmentMatch.objects.filter(lead=lead).exists()


def test_without_watched_segments_a_lead_change_costs_one_query():
    lead = LeadFactory()
    with CaptureQueriesContext(connection) as queries:
        segments_evaluate(lead_ids=[lead.pk])
    assert len(queries) == 1


def test_enrolment_is_set_based(mqls):
    def run(count: int) -> int:
        Lead.objects.filter(stage="mql").update(stage="lead")
        segments_evaluate()  # all left: forgotten
        for _ in range(count):
            LeadFactory(stage="mql")
        with CaptureQueriesContext(connection) as queries:
            assert segments_evaluate() == count
        return len(queries)

    watching(mqls, reenrollment="after_finished")
    segments_evaluate()
    assert run(3) == run(40)


# --- Setting it up: API and editor -----------------------------------------------------------


def test_the_api_takes_a_segment_trigger_and_refuses_an_unknown_segment(api_client_for,
                                                                        marketer, mqls):
    api = api_client_for(marketer)
    body = {"name": "Recycle", "status": "active",
            "steps": [{"subject": "Hi", "body": "Hello"}],
            "triggers": [{"type": "segment", "segment": mqls.pk}, {"type": "mql_rejected"}]}
    created = api.post("/api/v1/sequences/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["triggers"] == [{"type": "segment", "segment": mqls.pk},
                                          {"type": "mql_rejected"}]
    assert SegmentWatch.objects.filter(segment=mqls).exists()

    for trigger, message in (({"type": "segment", "segment": 999999}, "No segment"),
                             ({"type": "segment"}, "Choose the segment"),
                             ({"type": "segment", "segment": None}, "Choose the segment")):
        response = api.post("/api/v1/sequences/", {**body, "triggers": [trigger]},
                            format="json")
        assert response.status_code == 400
        assert message in response.json()["triggers"]["0"]["segment"][0]
    bad = api.post("/api/v1/sequences/", {**body, "triggers": [
        {"type": "segment", "segment": 0}]}, format="json")
    assert bad.status_code == 400 and "segment" in bad.json()["triggers"]["0"]


def test_the_editor_saves_a_segment_trigger_and_says_what_it_does(client, marketer, mqls):
    from tests.nurture.test_views import editor_data

    client.force_login(marketer)
    response = client.post(reverse("nurture:new"), editor_data(
        steps=[{}], triggers=[{"type": "segment", "segment": mqls.pk}]))
    assert response.status_code == 302
    trigger = Sequence.objects.get().triggers.get()
    assert (trigger.type, trigger.segment) == ("segment", mqls)
    editor = client.get(response["Location"]).content.decode()
    assert f'<option value="{mqls.pk}" selected>MQLs</option>' in editor
    assert "already in it when the sequence goes live" in editor

    refused = client.post(reverse("nurture:new"), editor_data(
        steps=[{}], triggers=[{"type": "segment", "segment": ""}]))
    assert refused.status_code == 400
    assert "Choose the segment to watch." in refused.content.decode()
    listing = client.get(reverse("nurture:index")).content.decode()
    assert "Comes to match segment “MQLs”" in listing


def test_a_grade_a_rescore_changed_is_checked_against_watched_segments():
    from nurture.handlers import leads_rescored
    from scoring.services.hooks import ScoreChanges

    fit = SegmentFactory(name="Fit", params={"grade": ["A"]})
    sequence = watching(fit)
    segments_evaluate()
    lead = LeadFactory(grade="C")
    Lead.objects.filter(pk=lead.pk).update(grade="A")
    # A rescore writes its grade_changed activities already processed: no handler runs.
    Activity.objects.create(lead=lead, kind="grade_changed", data={"old": "C", "new": "A"},
                            processed_at=lead.created_at)
    changes = ScoreChanges(cause={"rescore": 1}, lo=0, hi=10**9, after_id=0, upto_id=10**12,
                           scores_changed=0, grades_changed=1)
    assert leads_rescored(changes=changes) == 1
    assert enrolled(sequence) == {lead.email}
