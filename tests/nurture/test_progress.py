"""enrollments_move_on: once their in-flight emails have an outcome, enrollments wait for
their next step (due its delay after that moment) or complete, each with its own times,
in one UPDATE per chunk, and never one that exited meanwhile."""

from datetime import timedelta

import pytest
from django.utils import timezone

from nurture.models import Enrollment, EnrollmentState
from nurture.services import progress
from tests.factories import EmailMessageFactory, EnrollmentFactory, SequenceFactory, StepFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("chunk", [2, 200])
def test_each_enrollment_moves_on_with_its_own_times(monkeypatch, chunk):
    monkeypatch.setattr(progress, "MOVES_CHUNK", chunk)
    one_step = SequenceFactory()
    only = StepFactory(sequence=one_step)
    two_steps = SequenceFactory()
    first, second = (StepFactory(sequence=two_steps, delay_minutes=m) for m in (0, 90))
    at = timezone.now().replace(microsecond=0)
    resolved, finishing, waiting = {}, [], []
    for n in range(3):
        for sequence, step, kept in ((one_step, only, finishing), (two_steps, first, waiting)):
            enrollment = EnrollmentFactory(sequence=sequence, next_step=step)
            EmailMessageFactory(enrollment=enrollment, step=step, status="sent", sent_at=at)
            resolved[enrollment.pk] = at + timedelta(seconds=n)
            kept.append(enrollment)
    exited = waiting.pop()
    Enrollment.objects.filter(pk=exited.pk).update(state=EnrollmentState.EXITED)

    assert progress.enrollments_move_on(resolved) == 5

    for enrollment in finishing:
        enrollment.refresh_from_db()
        assert (enrollment.state, enrollment.finished_at, enrollment.next_due_at) == (
            EnrollmentState.COMPLETED, resolved[enrollment.pk], None)
    for enrollment in waiting:
        enrollment.refresh_from_db()
        assert (enrollment.state, enrollment.next_step_id, enrollment.finished_at) == (
            EnrollmentState.ACTIVE, second.pk, None)
        assert enrollment.next_due_at == resolved[enrollment.pk] + timedelta(minutes=90)
    exited.refresh_from_db()
    assert (exited.state, exited.next_step_id, exited.next_due_at) == (
        EnrollmentState.EXITED, first.pk, None)
    # Moved already: a second call finds none in flight.
    assert progress.enrollments_move_on(resolved) == 0
