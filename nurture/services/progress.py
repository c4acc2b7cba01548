"""Where an enrollment is in its sequence, worked out from what it was sent.

An enrollment's next step is **the first step, in the sequence's current order, after the
last step it was sent** (none sent yet: the first step). A step counts as sent once its
email was accepted, failed for good or was cancelled: an ``EmailMessage`` row exists for
(enrollment, step), and the unique constraint on that pair forbids a second one. Because
editing a sequence keeps its steps' rows (``nurture.services.sequences``), this rule
survives any edit:

- removing a step the lead was sent, or the one it waits for, moves it on to the step
  that now follows (never "completed" with steps left);
- a step inserted before the last one sent is not sent to leads already past it, and the
  steps they were sent are never sent again (their rows are still there);
- reordering: the lead continues after the last step it got, in the new order.

A step's delay counts from when the previous email went out (or failed for good), so the
next step only becomes due once the previous one has an outcome: ``enrollments_move_on``
runs when a message is recorded as sent or failed, never when it is merely claimed.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import (
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from nurture import schedule
from nurture.models import (
    EmailMessage,
    Enrollment,
    EnrollmentState,
    MessageStatus,
    Sequence,
    Step,
)

CHUNK = 1000  # enrollments per UPDATE when an edit moves them
MOVES_CHUNK = 200  # rows of one UPDATE … FROM (SQLite allows 500 SELECTs in a UNION)


@dataclass
class History:
    """What one enrollment's messages say."""

    done: set[int] = field(default_factory=set)  # steps with an outcome (sent, failed, …)
    in_flight: bool = False  # one of its messages is still queued
    last_at: datetime | None = None  # when the latest one was sent or failed


def histories(enrollment_ids) -> dict[int, History]:
    """Each enrollment's History, in one query."""
    result: dict[int, History] = {pk: History() for pk in enrollment_ids}
    rows = (EmailMessage.objects.filter(enrollment_id__in=list(result)).order_by()
            .values_list("enrollment_id", "step_id", "status", "sent_at", "failed_at"))
    for enrollment_id, step_id, status, sent_at, failed_at in rows:
        history = result[enrollment_id]
        if status == MessageStatus.QUEUED:
            history.in_flight = True
            continue
        if step_id is not None:
            history.done.add(step_id)
        at = sent_at or failed_at
        if at is not None and (history.last_at is None or at > history.last_at):
            history.last_at = at
    return result


def steps_by_sequence(sequence_ids) -> dict[int, list[Step]]:
    """Each sequence's steps in their current order."""
    steps: dict[int, list[Step]] = {}
    for step in Step.objects.filter(sequence_id__in=set(sequence_ids)).order_by("position"):
        steps.setdefault(step.sequence_id, []).append(step)
    return steps


def following(steps: list[Step], done: set[int]) -> Step | None:
    """The first of ``steps`` (in order) after the last one in ``done``; None: no more."""
    last = max((index for index, step in enumerate(steps) if step.pk in done), default=-1)
    return steps[last + 1] if last + 1 < len(steps) else None


def anchor(enrollment: Enrollment, history: History) -> datetime:
    """What the next step's delay counts from: the previous email, or the enrolment."""
    return history.last_at or enrollment.enrolled_at


def enrollments_move_on(resolved: dict[int, datetime]) -> int:
    """Enrollments whose in-flight email has just got its outcome (``resolved``:
    enrollment id → when it was sent or failed) wait for their next step, due its delay
    after that moment (and in its window), or complete. Conditional on the enrollment
    still being active and in flight, so an exit meanwhile stays an exit; called once per
    message, in the transaction that records it. Returns how many moved."""
    if not resolved:
        return 0
    enrollments = list(Enrollment.objects.filter(
        pk__in=list(resolved), state=EnrollmentState.ACTIVE, next_due_at__isnull=True))
    if not enrollments:
        return 0
    found = histories([e.pk for e in enrollments])
    steps = steps_by_sequence(e.sequence_id for e in enrollments)
    moves: dict[int, tuple] = {}  # enrollment id → (state, next step id, due, finished)
    with schedule.zone_pinned():  # one time zone read for all their due times
        for enrollment in enrollments:
            history = found[enrollment.pk]
            if history.in_flight:
                continue  # another of its emails is still queued: that one moves it on
            at = resolved[enrollment.pk]
            step = following(steps.get(enrollment.sequence_id, []), history.done)
            if step is None:
                moves[enrollment.pk] = (EnrollmentState.COMPLETED, None, None, at)
            else:
                moves[enrollment.pk] = (EnrollmentState.ACTIVE, step.pk,
                                        schedule.due_after(step, at), None)
    if not moves:
        return 0
    return _moves_write(moves)


def _moves_write(moves: dict[int, tuple]) -> int:
    """One UPDATE … FROM per MOVES_CHUNK of the moves (each enrollment its own state,
    next step, due time and completion time), still conditional on each being active
    and in flight. Written as SQL: the ORM's equivalent (a CASE per column over every
    id) cost more to build than to run, once per recorded chunk of sent emails."""
    meta, quote = Enrollment._meta, connection.ops.quote_name
    column = {name: quote(meta.get_field(name).column) for name in
              ("state", "next_step", "next_due_at", "finished_at", "held_for_optin")}
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    if connection.vendor == "postgresql":  # the first row gives the derived table's types
        first = ("SELECT CAST(%s AS BIGINT) AS id, CAST(%s AS VARCHAR) AS state, "
                 "CAST(%s AS BIGINT) AS step, CAST(%s AS TIMESTAMP WITH TIME ZONE) AS due, "
                 "CAST(%s AS TIMESTAMP WITH TIME ZONE) AS finished")
    else:  # SQLite keeps datetimes as text: no casts
        first = "SELECT %s AS id, %s AS state, %s AS step, %s AS due, %s AS finished"
    adapt = connection.ops.adapt_datetimefield_value
    items, moved = list(moves.items()), 0
    for start in range(0, len(items), MOVES_CHUNK):
        rows, params = [], []
        for pk_value, (state, step_id, due, finished) in items[start:start + MOVES_CHUNK]:
            rows.append("SELECT %s, %s, %s, %s, %s" if rows else first)
            params += [pk_value, state, step_id, adapt(due), adapt(finished)]
        # Names from the model, values as parameters.
        sql = (
            f"UPDATE {table} SET {column['state']} = v.state, "  # noqa: S608
            f"{column['next_step']} = v.step, "
            f"{column['next_due_at']} = v.due, {column['finished_at']} = v.finished, "
            f"{column['held_for_optin']} = %s FROM ({' UNION ALL '.join(rows)}) v "
            f"WHERE {table}.{pk} = v.id AND {table}.{column['state']} = %s "
            f"AND {table}.{column['next_due_at']} IS NULL")
        with connection.cursor() as cursor:
            cursor.execute(sql, [False, *params, EnrollmentState.ACTIVE.value])
            moved += cursor.rowcount
    return moved


def enrollments_follow_edit(*, sequence: Sequence, retimed: set[int],
                            now: datetime | None = None) -> None:
    """After the sequence's steps were edited: every waiting enrollment (not in flight)
    waits for the step the rule above now gives, due its delay after the previous email
    (the window is applied when it comes due, by the dispatcher), or completes. Those
    waiting for a step in ``retimed`` (its delay changed) get the new due time too.
    One query to find them and one UPDATE per distinct next step (per CHUNK): the due
    time is computed by the database from each enrollment's own last email."""
    now = now or timezone.now()
    steps = list(sequence.steps.order_by("position"))
    last_position = Subquery(
        EmailMessage.objects.filter(enrollment=OuterRef("pk"), step__isnull=False)
        .exclude(status=MessageStatus.QUEUED)
        .order_by("-step__position").values("step__position")[:1]
    )
    in_flight = EmailMessage.objects.filter(enrollment=OuterRef("pk"),
                                            status=MessageStatus.QUEUED)
    waiting = (Enrollment.objects.filter(sequence=sequence, state=EnrollmentState.ACTIVE,
                                         next_due_at__isnull=False)
               .exclude(Exists(in_flight))
               .annotate(last_position=last_position)
               .values_list("pk", "next_step_id", "last_position"))
    # Positions are 1…n after an edit: the step after position p is steps[p].
    targets: dict[int | None, list[int]] = {}
    for pk, next_step_id, position in waiting:
        index = position or 0
        target = steps[index] if index < len(steps) else None
        target_id = target.pk if target is not None else None
        if target_id is None or target_id != next_step_id or target_id in retimed:
            targets.setdefault(target_id, []).append(pk)
    by_id = {s.pk: s for s in steps}
    previous_email = Subquery(
        EmailMessage.objects.filter(enrollment=OuterRef("pk"),
                                    status__in=[MessageStatus.SENT, MessageStatus.FAILED])
        .annotate(at=Coalesce("sent_at", "failed_at"))
        .order_by("-at").values("at")[:1]
    )
    for target_id, ids in targets.items():
        for start in range(0, len(ids), CHUNK):
            rows = Enrollment.objects.filter(pk__in=ids[start:start + CHUNK],
                                             state=EnrollmentState.ACTIVE,
                                             next_due_at__isnull=False)
            if target_id is None:
                rows.update(state=EnrollmentState.COMPLETED, finished_at=now, next_step=None,
                            next_due_at=None, held_for_optin=False)
                continue
            delay = timedelta(minutes=by_id[target_id].delay_minutes)
            rows.update(next_step_id=target_id, next_due_at=ExpressionWrapper(
                Coalesce(previous_email, F("enrolled_at")) + Value(delay),
                output_field=DateTimeField()))
