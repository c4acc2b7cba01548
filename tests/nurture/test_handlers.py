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
