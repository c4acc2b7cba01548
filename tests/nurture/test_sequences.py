"""Editing a live sequence: steps keep their identity (by id), and every enrolled lead goes
on with the first step, in the new order, after the last one it was sent — never a step
again, never skipping one that follows. Sent through a real SMTP server, on a clock the
test controls."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from nurture.models import EmailMessage, Enrollment, EnrollmentState, Step
from nurture.services import sequence_update
from tests.factories import LeadFactory, StepFactory
from tests.nurture.conftest import dispatch, enroll, make_sequence

pytestmark = pytest.mark.django_db

DAY = 24 * 60


def spec(subject: str, delay: int = DAY, **extra) -> dict:
    return {"subject": subject, "body": f"This is {subject}.", "delay_minutes": delay, **extra}


def kept(step: Step, **changes) -> dict:
    return {"id": step.pk, "subject": step.subject, "body": step.body,
            "delay_minutes": step.delay_minutes, **changes}


@pytest.fixture
def abc():
    """Steps A, B, C a day apart; a clock."""
    start = timezone.now()
    sequence = make_sequence(steps=[spec("A", 0), spec("B"), spec("C")])
    a, b, c = sequence.steps.order_by("position")
    return {"sequence": sequence, "steps": (a, b, c), "start": start}


def subjects(smtp, address=None) -> list[str]:
    return [m["Subject"] for m in smtp.messages if address is None or m["To"] == address]


def test_removing_a_step_the_lead_was_sent_does_not_skip_the_next(smtp, abc):
    sequence, (a, _b, c), start = abc["sequence"], abc["steps"], abc["start"]
    lead = LeadFactory(email="ann@example.com")
    enrollment = enroll(sequence, lead, now=start)
    dispatch(now=start)
    dispatch(now=start + timedelta(days=1))
    assert subjects(smtp) == ["A", "B"]

    sequence_update(sequence=sequence, steps=[kept(a), kept(c)])

    assert list(sequence.steps.order_by("position")) == [a, c]  # the same rows
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.ACTIVE and enrollment.next_step == c
    dispatch(now=start + timedelta(days=2))
    assert subjects(smtp) == ["A", "B", "C"]
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.COMPLETED


def test_removing_the_step_a_lead_waits_for_moves_it_to_the_one_after(smtp, abc):
    sequence, (a, _b, c), start = abc["sequence"], abc["steps"], abc["start"]
    enrollment = enroll(sequence, LeadFactory(), now=start)
    dispatch(now=start)
    sent_a = EmailMessage.objects.get(step=a).sent_at

    sequence_update(sequence=sequence, steps=[kept(a), kept(c, delay_minutes=120)])

    enrollment.refresh_from_db()
    assert enrollment.next_step == c
    assert enrollment.next_due_at == sent_a + timedelta(minutes=120)  # C's delay after A
    dispatch(now=sent_a + timedelta(minutes=120))
    assert subjects(smtp) == ["A", "C"]


def test_a_step_inserted_before_what_a_lead_was_sent_is_not_sent_and_nothing_repeats(
    smtp, abc
):
    sequence, (a, b, c), start = abc["sequence"], abc["steps"], abc["start"]
    early = LeadFactory(email="early@example.com")
    enroll(sequence, early, now=start)
    dispatch(now=start)
    assert subjects(smtp) == ["A"]

    sequence_update(sequence=sequence, steps=[spec("X", 0), kept(a), kept(b), kept(c)])
    late = LeadFactory(email="late@example.com")
    enroll(sequence, late, now=start)  # enrolled after the edit: starts with X
    for day in range(1, 5):
        dispatch(now=start + timedelta(days=day))

    assert subjects(smtp, "early@example.com") == ["A", "B", "C"]
    assert subjects(smtp, "late@example.com") == ["X", "A", "B", "C"]
    assert EmailMessage.objects.filter(lead=early, step=a).count() == 1


def test_a_lead_goes_on_after_its_last_step_in_the_new_order(smtp, abc):
    sequence, (a, b, c), start = abc["sequence"], abc["steps"], abc["start"]
    enrollment = enroll(sequence, LeadFactory(), now=start)
    dispatch(now=start)

    # C moves up, B down: after A comes C now.
    sequence_update(sequence=sequence, steps=[kept(a), kept(c), kept(b)])
    assert list(sequence.steps.order_by("position")) == [a, c, b]
    enrollment.refresh_from_db()
    assert enrollment.next_step == c
    for day in range(1, 4):
        dispatch(now=start + timedelta(days=day))
    assert subjects(smtp) == ["A", "C", "B"]


def test_changing_a_steps_delay_moves_the_due_time_of_those_waiting_for_it(smtp, abc):
    sequence, (a, b, c), start = abc["sequence"], abc["steps"], abc["start"]
    enrollment = enroll(sequence, LeadFactory(), now=start)
    dispatch(now=start)
    sequence_update(sequence=sequence, steps=[kept(a), kept(b, delay_minutes=60,
                                                            subject="B, sooner"), kept(c)])
    enrollment.refresh_from_db()
    assert enrollment.next_step == b
    assert enrollment.next_due_at == EmailMessage.objects.get(step=a).sent_at + timedelta(
        minutes=60)
    dispatch(now=start + timedelta(minutes=61))
    assert subjects(smtp) == ["A", "B, sooner"]


def test_removing_every_step_after_the_last_one_sent_completes_the_enrollment(smtp, abc):
    sequence, (a, _b, _c), start = abc["sequence"], abc["steps"], abc["start"]
    enrollment = enroll(sequence, LeadFactory(), now=start)
    dispatch(now=start)
    sequence_update(sequence=sequence, steps=[kept(a)])
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.COMPLETED and enrollment.next_due_at is None


def test_steps_sent_again_without_ids_keep_the_rows_of_unchanged_steps(smtp, abc):
    sequence, (a, _b, c), start = abc["sequence"], abc["steps"], abc["start"]
    enroll(sequence, LeadFactory(), now=start)
    dispatch(now=start)
    dispatch(now=start + timedelta(days=1))

    # The contract's shape, no ids: A and C unchanged, B left out, D new.
    sequence_update(sequence=sequence, steps=[spec("A", 0), spec("C"), spec("D")])
    steps = list(sequence.steps.order_by("position"))
    assert steps[:2] == [a, c] and steps[2].subject == "D"
    for day in range(2, 5):
        dispatch(now=start + timedelta(days=day))
    assert subjects(smtp) == ["A", "B", "C", "D"]


def test_an_edit_while_a_step_is_in_flight_lets_it_finish_then_follows_the_new_order(
    smtp, abc
):
    sequence, (a, _b, c), start = abc["sequence"], abc["steps"], abc["start"]
    lead = LeadFactory(email="busy@example.com")
    enrollment = enroll(sequence, lead, now=start)
    smtp.defer("busy@example.com", times=1)
    dispatch(now=start)  # A deferred: in flight
    sequence_update(sequence=sequence, steps=[kept(a), kept(c)])
    enrollment.refresh_from_db()
    assert enrollment.next_due_at is None  # still waiting for A's outcome
    dispatch(now=start + timedelta(minutes=5))
    dispatch(now=start + timedelta(days=1, minutes=5))
    assert subjects(smtp) == ["A", "C"]


def test_a_deleted_step_in_flight_is_cancelled_and_the_lead_goes_on(smtp, abc):
    sequence, (_a, b, c), start = abc["sequence"], abc["steps"], abc["start"]
    lead = LeadFactory(email="busy@example.com")
    enrollment = enroll(sequence, lead, now=start)
    smtp.defer("busy@example.com", times=1)
    dispatch(now=start)
    sequence_update(sequence=sequence, steps=[kept(b, delay_minutes=0), kept(c)])
    dispatch(now=start + timedelta(minutes=5))  # A's retry: its step is gone
    assert EmailMessage.objects.get(lead=lead).status == "cancelled"
    enrollment.refresh_from_db()
    assert enrollment.next_step == b
    dispatch(now=start + timedelta(minutes=6))
    assert subjects(smtp) == ["B"]


def test_the_dispatcher_follows_an_edit_the_edit_itself_could_not_apply(smtp, abc):
    """The step pointer of an enrollment can be stale (an edit that raced with a claim,
    or rows written before this rule): what was sent decides."""
    sequence, (a, _b, _c), start = abc["sequence"], abc["steps"], abc["start"]
    enrollment = enroll(sequence, LeadFactory(), now=start)
    dispatch(now=start)
    dispatch(now=start + timedelta(days=1))
    # A stale pointer back to A, due now.
    Enrollment.objects.filter(pk=enrollment.pk).update(next_step=a, next_due_at=start)
    dispatch(now=start + timedelta(days=2))
    assert subjects(smtp) == ["A", "B", "C"]


def test_step_ids_must_be_this_sequences(abc):
    sequence, (a, b, c) = abc["sequence"], abc["steps"]
    other = StepFactory()
    with pytest.raises(ValidationError) as error:
        sequence_update(sequence=sequence, steps=[kept(a), {**kept(b), "id": other.pk},
                                                  kept(a)])
    assert set(error.value.message_dict) == {"steps.1.id", "steps.2.id"}
    assert list(sequence.steps.order_by("position")) == [a, b, c]
    assert other.sequence.steps.get() == other


def test_the_api_keeps_steps_by_id_and_takes_the_contract_shape(api_client_for, marketer,
                                                                 smtp, abc):
    sequence, (a, b, c), start = abc["sequence"], abc["steps"], abc["start"]
    enroll(sequence, LeadFactory(), now=start)
    dispatch(now=start)
    dispatch(now=start + timedelta(days=1))
    client = api_client_for(marketer)
    url = f"/api/v1/sequences/{sequence.pk}/"
    steps = client.get(url).json()["steps"]
    assert [s["id"] for s in steps] == [a.pk, b.pk, c.pk]

    response = client.put(url, {"name": "Welcome", "status": "active", "steps": [
        {k: steps[0][k] for k in ("id", "subject", "body", "delay_minutes")},
        {k: steps[2][k] for k in ("id", "subject", "body", "delay_minutes")},
        {"subject": "D", "body": "New.", "delay_minutes": DAY},
    ]}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()["steps"]
    assert [s["id"] for s in body[:2]] == [a.pk, c.pk] and body[2]["id"] not in (a.pk, b.pk)
    assert [s["position"] for s in body] == [1, 2, 3]
    for day in range(2, 5):
        dispatch(now=start + timedelta(days=day))
    assert subjects(smtp) == ["A", "B", "C", "D"]

    bad = client.patch(url, {"steps": [{"id": 999_999, "subject": "x", "body": "y"}]},
                       format="json")
    assert bad.status_code == 400
    assert bad.json() == {"steps": {"0": {"id": ["No step with this id in this sequence."]}}}


def test_ids_sent_on_create_are_ignored(api_client_for, marketer, abc):
    a = abc["steps"][0]
    response = api_client_for(marketer).post("/api/v1/sequences/", {
        "name": "Copy", "steps": [{"id": a.pk, "subject": "A", "body": "a"}]}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["steps"][0]["id"] != a.pk
    a.refresh_from_db()
    assert a.sequence == abc["sequence"]


def test_the_editor_sends_each_steps_id_back_and_keeps_it(client, marketer, smtp, abc):
    sequence, (a, b, c), start = abc["sequence"], abc["steps"], abc["start"]
    enroll(sequence, LeadFactory(), now=start)
    dispatch(now=start)
    dispatch(now=start + timedelta(days=1))
    client.force_login(marketer)
    url = reverse("nurture:edit", args=[sequence.pk])
    html = client.get(url).content.decode()
    for index, step in enumerate((a, b, c)):
        assert (f'<input type="hidden" name="steps-{index}-id" value="{step.pk}" '
                f'id="id_steps-{index}-id">') in html

    # Remove B (the rows come back numbered as drawn), add a new one at the top.
    rows = [("0", a), ("2", c)]
    data = {"name": "Welcome", "status": "active", "reenrollment": "never",
            "exit_on_stage": "sql", "goal_kind": "", "tracking": "on", "_action": "save",
            "triggers-TOTAL_FORMS": 0, "triggers-INITIAL_FORMS": 0,
            "steps-TOTAL_FORMS": 3, "steps-INITIAL_FORMS": 0}
    for i, (position, step) in enumerate([("9", None), *rows]):
        data.update({f"steps-{i}-id": step.pk if step else "",
                     f"steps-{i}-position": position if step else "-1",
                     f"steps-{i}-subject": step.subject if step else "New first",
                     f"steps-{i}-body": step.body if step else "Hello.",
                     f"steps-{i}-preheader": "", f"steps-{i}-delay_value": 1,
                     f"steps-{i}-delay_unit": "days"})
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    steps = list(sequence.steps.order_by("position"))
    assert steps[1:] == [a, c] and steps[0].subject == "New first"
    dispatch(now=start + timedelta(days=2))
    assert subjects(smtp) == ["A", "B", "C"]


def test_the_editor_refuses_a_step_id_from_another_sequence_beside_the_row(client, marketer,
                                                                            abc):
    sequence, (a, b, c) = abc["sequence"], abc["steps"]
    other = StepFactory()
    client.force_login(marketer)
    data = {"name": "Welcome", "status": "active", "reenrollment": "never",
            "exit_on_stage": "sql", "goal_kind": "", "tracking": "on", "_action": "save",
            "triggers-TOTAL_FORMS": 0, "triggers-INITIAL_FORMS": 0,
            "steps-TOTAL_FORMS": 1, "steps-INITIAL_FORMS": 0,
            "steps-0-id": other.pk, "steps-0-position": 0, "steps-0-subject": "Hi",
            "steps-0-body": "Hello.", "steps-0-preheader": "", "steps-0-delay_value": 0,
            "steps-0-delay_unit": "days"}
    response = client.post(reverse("nurture:edit", args=[sequence.pk]), data)
    assert response.status_code == 400
    assert "No step with this id in this sequence." in response.content.decode()
    assert list(sequence.steps.order_by("position")) == [a, b, c]
