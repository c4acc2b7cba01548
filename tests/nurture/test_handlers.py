"""nurture.handlers.activity_enroll_and_exit: triggers enroll (once, however often the
handler runs), re-enrolment policy, and exits on goal and unsubscribe."""

import pytest
from django.utils import timezone

from capture.models import Activity
from capture.services import activity_record
from nurture.handlers import activity_enroll_and_exit
from nurture.models import Enrollment, EnrollmentState
from nurture.services import enrollment_exit, lead_unsubscribe
from tests.factories import FormFactory, LeadFactory
from tests.nurture.conftest import make_sequence

pytestmark = pytest.mark.django_db


def happen(lead, kind, **data) -> Activity:
    activity = activity_record(lead=lead, kind=kind, data=data)
    activity_enroll_and_exit(activity)
    return activity


def test_a_form_submission_enrolls_the_lead_once_even_when_the_handler_runs_twice():
    form, other = FormFactory(), FormFactory()
    sequence = make_sequence(triggers=[{"type": "form_submitted", "form": form.pk}],
                             reenrollment="after_finished")
    lead = LeadFactory()
    happen(lead, "form_submitted", form=other.pk)
    assert not Enrollment.objects.exists()

    activity = happen(lead, "form_submitted", form=form.pk)
    enrollment = Enrollment.objects.get()
    assert enrollment.sequence == sequence and enrollment.source == "form_submitted"
    assert enrollment.trigger_activity_id == activity.pk
    enrollment_exit(enrollment=enrollment, reason="test")  # finished: may re-enrol…
    activity_enroll_and_exit(activity)  # …but not from the same activity run again
    assert Enrollment.objects.count() == 1
    assert Activity.objects.filter(lead=lead, kind="sequence_enrolled").count() == 1


def test_custom_events_stage_score_and_grade_triggers():
    by_event = make_sequence(name="Trial", triggers=[{"type": "custom_event",
                                                       "event": "trial_started"}])
    by_stage = make_sequence(name="MQL", triggers=[{"type": "stage_entered", "stage": "mql"}],
                             exit_on_stage="sql")
    by_score = make_sequence(name="Hot", triggers=[{"type": "score_reached", "score": 50}])
    by_grade = make_sequence(name="Fit", triggers=[{"type": "grade_reached", "grade": "B"}])
    lead = LeadFactory()

    happen(lead, "trial_started", url="", properties={}, source="api")
    happen(lead, "stage_changed", **{"from": "lead", "to": "mql"})
    happen(lead, "score_changed", old=10, new=40)
    happen(lead, "grade_changed", old="D", new="C")
    assert set(Enrollment.objects.values_list("sequence__name", flat=True)) == {"Trial", "MQL"}
    happen(lead, "score_changed", old=40, new=55)
    happen(lead, "grade_changed", old="C", new="A")
    enrolled = set(Enrollment.objects.values_list("sequence_id", flat=True))
    assert enrolled == {by_event.pk, by_stage.pk, by_score.pk, by_grade.pk}


def test_never_re_enrol_means_never():
    form = FormFactory()
    make_sequence(triggers=[{"type": "form_submitted", "form": form.pk}])
    lead = LeadFactory()
    happen(lead, "form_submitted", form=form.pk)
    enrollment_exit(enrollment=Enrollment.objects.get(), reason="test")
    happen(lead, "form_submitted", form=form.pk)
    assert Enrollment.objects.count() == 1


def test_after_finished_re_enrols_a_lead_whose_run_ended():
    form = FormFactory()
    make_sequence(triggers=[{"type": "form_submitted", "form": None}],
                  reenrollment="after_finished")
    lead = LeadFactory()
    happen(lead, "form_submitted", form=form.pk)
    happen(lead, "form_submitted", form=form.pk)  # still running: not twice
    assert Enrollment.objects.count() == 1
    enrollment_exit(enrollment=Enrollment.objects.get(), reason="test")
    happen(lead, "form_submitted", form=form.pk)
    assert Enrollment.objects.filter(state=EnrollmentState.ACTIVE).count() == 1


def test_drafts_and_unsubscribed_leads_are_not_enrolled():
    form = FormFactory()
    make_sequence(triggers=[{"type": "form_submitted", "form": form.pk}], status="draft")
    lead = LeadFactory(unsubscribed_at=timezone.now())
    make_sequence(name="Live", triggers=[{"type": "form_submitted", "form": form.pk}])
    happen(lead, "form_submitted", form=form.pk)
    assert not Enrollment.objects.exists()


def test_the_goal_activity_ends_the_sequence():
    sequence = make_sequence(goal_kind="demo_requested",
                             triggers=[{"type": "custom_event", "event": "trial_started"}])
    lead = LeadFactory()
    happen(lead, "trial_started")
    happen(lead, "demo_requested")
    enrollment = Enrollment.objects.get(sequence=sequence)
    assert enrollment.state == EnrollmentState.EXITED
    assert enrollment.exit_reason == "goal demo_requested"


def test_an_unsubscribe_exits_every_sequence():
    lead = LeadFactory()
    for name in ("A", "B"):
        make_sequence(name=name, triggers=[{"type": "custom_event", "event": "go"}])
    happen(lead, "go")
    assert Enrollment.objects.filter(state=EnrollmentState.ACTIVE).count() == 2
    lead_unsubscribe(lead=lead, how="api")
    assert not Enrollment.objects.filter(state=EnrollmentState.ACTIVE).exists()
    assert Activity.objects.filter(lead=lead, kind="sequence_exited").count() == 2


def test_the_factories_make_a_working_sequence():
    from tests.factories import StepFactory, TriggerFactory

    step = StepFactory()
    TriggerFactory(sequence=step.sequence, type="custom_event", params={"event": "go"})
    happen(LeadFactory(), "go")
    assert Enrollment.objects.get().next_step == step


def test_a_lead_magnet_download_enrolls_for_its_page_or_any_page():
    from tests.factories import LandingPageFactory

    ebook, webinar = LandingPageFactory(), LandingPageFactory()
    for_ebook = make_sequence(name="Ebook", triggers=[{"type": "lead_magnet",
                                                       "page": ebook.pk}])
    for_any = make_sequence(name="Any magnet", triggers=[{"type": "lead_magnet"}])
    on_form = make_sequence(name="Forms", triggers=[{"type": "form_submitted"}])
    reader, viewer = LeadFactory(), LeadFactory()

    activity = happen(reader, "lead_magnet_downloaded", page=ebook.pk, page_slug="ebook",
                      file="ebook.pdf")
    happen(viewer, "lead_magnet_downloaded", page=webinar.pk, page_slug="webinar",
           file="slides.pdf")
    happen(viewer, "page_viewed", url="https://example.com/ebook")

    assert set(Enrollment.objects.filter(lead=reader).values_list("sequence", flat=True)) == {
        for_ebook.pk, for_any.pk}
    assert set(Enrollment.objects.filter(lead=viewer).values_list("sequence", flat=True)) == {
        for_any.pk}
    enrollment = Enrollment.objects.get(lead=reader, sequence=for_ebook)
    assert (enrollment.source, enrollment.trigger_activity_id) == ("lead_magnet", activity.pk)
    assert not Enrollment.objects.filter(sequence=on_form).exists()
    activity_enroll_and_exit(activity)  # run again: no second enrollment
    assert Enrollment.objects.filter(lead=reader).count() == 2


def test_a_rejected_mql_is_recycled_but_not_any_lead_entering_lead():
    recycle = make_sequence(name="Recycle", triggers=[{"type": "mql_rejected"}])
    entered = make_sequence(name="Entered lead", triggers=[{"type": "stage_entered",
                                                            "stage": "lead"}])
    rejected, revived, stalled = LeadFactory(), LeadFactory(), LeadFactory()

    activity = happen(rejected, "stage_changed", **{"from": "mql", "to": "lead",
                                                    "reason": "Not ready", "by": "sam"})
    happen(revived, "stage_changed", **{"from": "disqualified", "to": "lead"})
    happen(stalled, "stage_changed", **{"from": "opportunity", "to": "lead"})
    happen(stalled, "stage_changed", **{"from": "lead", "to": "mql"})

    assert list(Enrollment.objects.filter(sequence=recycle)
                .values_list("lead", "source", "trigger_activity_id")) == [
        (rejected.pk, "mql_rejected", activity.pk)]
    assert set(Enrollment.objects.filter(sequence=entered).values_list("lead", flat=True)) == {
        rejected.pk, revived.pk, stalled.pk}


def test_a_rejected_mql_is_recycled_through_the_pipeline(rep):
    from pipeline.services import lead_change_stage

    recycle = make_sequence(name="Recycle", triggers=[{"type": "mql_rejected"}])
    lead = LeadFactory(stage="mql", owner=rep)
    lead_change_stage(lead=lead, to_stage="lead", actor=rep, reason="Not ready yet")
    activity = Activity.objects.get(lead=lead, kind="stage_changed")
    assert (activity.data["from"], activity.data["to"]) == ("mql", "lead")
    activity_enroll_and_exit(activity)
    assert Enrollment.objects.get(sequence=recycle).lead == lead
