import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from capture.models import Activity, ActivityKind, Lead
from capture.services import DUPLICATE_EMAIL_MESSAGE, activity_record, lead_create, lead_update
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_it_creates_a_lead_with_a_lead_created_activity(marketer):
    lead = lead_create(actor=marketer, email="  ann@example.com ", first_name="Ann")

    assert lead.email == "ann@example.com"
    activity = lead.activities.get()
    assert activity.kind == ActivityKind.LEAD_CREATED
    assert activity.actor == marketer
    assert activity.data == {
        "source": "manual",
        "fields": {"email": "ann@example.com", "first_name": "Ann"},
    }
    assert lead.last_activity_at == activity.occurred_at


@pytest.mark.parametrize("typed", ["Ann@Example.com ", "ANN@EXAMPLE.COM", "\tann@example.com"])
def test_it_refuses_a_second_lead_for_the_same_email_in_any_case(typed):
    lead_create(email="ann@example.com")

    with pytest.raises(ValidationError) as exc:
        lead_create(email=typed)

    assert exc.value.message_dict == {"email": [DUPLICATE_EMAIL_MESSAGE]}
    assert Lead.objects.count() == 1


def test_the_database_itself_enforces_one_lead_per_lower_cased_email():
    LeadFactory(email="ann@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(email="ANN@example.com")


def test_it_finds_a_lead_by_email_whatever_the_case_and_spaces():
    lead = LeadFactory(email="Ann@Example.com")

    assert Lead.objects.with_email("  ann@EXAMPLE.com ").get() == lead


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a@example.com", "website": "javascript:alert(1)"}, "website"),
        ({"email": "a@example.com", "first_name": "x" * 151}, "first_name"),
        ({"email": "a@example.com", "company_size": -3}, "company_size"),
        ({"email": "a@example.com", "attributes": ["not", "an", "object"]}, "attributes"),
        ({"email": "a@example.com", "attributes": {"nested": {"no": 1}}}, "attributes"),
    ],
)
def test_it_rejects_bad_input_per_field_and_writes_nothing(fields, field):
    with pytest.raises(ValidationError) as exc:
        lead_create(**fields)

    assert field in exc.value.message_dict
    assert Lead.objects.count() == 0
    assert Activity.objects.count() == 0


def test_it_refuses_fields_the_service_does_not_own():
    with pytest.raises(TypeError, match="score"):
        lead_create(email="a@example.com", score=100)


def test_it_records_consent_time_when_consent_is_given():
    lead = lead_create(email="a@example.com", marketing_consent=True)

    assert lead.consent_at is not None


def test_it_updates_only_what_changed_and_records_the_changes(rep):
    lead = LeadFactory(first_name="Ann", company="Acme")

    lead_update(lead=lead, actor=rep, first_name="Anne", company="Acme")

    lead.refresh_from_db()
    assert lead.first_name == "Anne"
    activity = lead.activities.get(kind=ActivityKind.LEAD_UPDATED)
    assert activity.data == {"changes": {"first_name": {"old": "Ann", "new": "Anne"}}}
    assert activity.actor == rep


def test_it_records_nothing_when_nothing_changed():
    lead = LeadFactory(first_name="Ann")

    lead_update(lead=lead, first_name="Ann")

    assert not lead.activities.exists()


def test_it_lets_a_lead_change_the_case_of_its_own_email():
    lead = LeadFactory(email="ann@example.com")

    lead_update(lead=lead, email="Ann@Example.com")

    lead.refresh_from_db()
    assert lead.email == "Ann@Example.com"


def test_it_refuses_to_update_an_email_to_another_leads():
    LeadFactory(email="ann@example.com")
    bob = LeadFactory(email="bob@example.com")

    with pytest.raises(ValidationError) as exc:
        lead_update(lead=bob, email=" ANN@example.com")

    assert exc.value.message_dict == {"email": [DUPLICATE_EMAIL_MESSAGE]}
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"
    assert not bob.activities.exists()


def test_activity_record_never_moves_last_activity_back_in_time():
    lead = LeadFactory()
    newest = activity_record(lead=lead, kind="page_viewed")
    older_time = newest.occurred_at.replace(year=newest.occurred_at.year - 1)

    activity_record(lead=lead, kind="page_viewed", occurred_at=older_time)

    lead.refresh_from_db()
    assert lead.last_activity_at == newest.occurred_at


def test_activity_record_runs_follow_up_work_once_the_transaction_commits(
    django_capture_on_commit_callbacks,
):
    lead = LeadFactory()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        activity = activity_record(lead=lead, kind="page_viewed")
    assert activity.processed_at is None
    assert len(callbacks) == 1

    callbacks[0]()  # what the commit does: the (eager) Celery task runs

    activity.refresh_from_db()
    assert activity.processed_at is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_email_give_one_lead_on_postgres():
    """Both requests pass the "email taken?" check before either commits; the unique
    index decides, and the loser gets the same per-field error instead of a 500."""
    for round_ in range(5):
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def create(email: str, barrier=barrier, outcomes=outcomes) -> None:
            try:
                barrier.wait(timeout=5)
                lead_create(email=email)
                outcomes.append("created")
            except ValidationError as exc:
                assert exc.message_dict == {"email": [DUPLICATE_EMAIL_MESSAGE]}
                outcomes.append("duplicate")
            finally:
                connection.close()

        threads = [
            threading.Thread(target=create, args=(f"race{round_}@example.com",)),
            threading.Thread(target=create, args=(f"  RACE{round_}@Example.com ",)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert sorted(outcomes) == ["created", "duplicate"]
        assert Lead.objects.with_email(f"race{round_}@example.com").count() == 1


def test_a_lost_race_on_the_unique_index_is_a_per_field_error(monkeypatch):
    """Force the path the race takes: the pre-check says "free", the index says no."""
    from capture.services import leads as services

    LeadFactory(email="ann@example.com")
    answers = iter([False, True])  # before the INSERT, then after the IntegrityError
    monkeypatch.setattr(services, "_email_taken", lambda email, **kw: next(answers))

    with transaction.atomic():  # the caller's transaction stays usable afterwards
        with pytest.raises(ValidationError) as exc:
            lead_create(email="ANN@example.com")
        assert Lead.objects.count() == 1

    assert exc.value.message_dict == {"email": [DUPLICATE_EMAIL_MESSAGE]}


def test_a_refused_update_leaves_the_callers_object_as_it_was():
    LeadFactory(email="ann@example.com")
    bob = LeadFactory(email="bob@example.com", first_name="Bob")

    with pytest.raises(ValidationError):
        lead_update(lead=bob, email="ann@example.com", first_name="Robert")

    assert (bob.email, bob.first_name) == ("bob@example.com", "Bob")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"first_name": "Ann\x00"}, "first_name", "Null characters are not allowed."),
        ({"company": "Acme \ud800"}, "company", "Surrogate characters are not allowed."),
        ({"attributes": {"plan": "pro\x00"}}, "attributes", "Null characters are not allowed."),
        ({"attributes": {"seats": float("inf")}}, "attributes", "Numbers must be finite."),
        ({"attributes": {"tags": [[[[[[[[[[["deep"]]]]]]]]]]]}}, "attributes",
         "Custom attributes may nest at most 10 levels deep."),
    ],
)
def test_it_refuses_text_no_database_can_store(fields, field, message):
    """Postgres refuses NUL and unencodable text with an error, not a row: the service
    turns it into a per-field message whoever calls it (API, form, import)."""
    with pytest.raises(ValidationError) as exc:
        lead_create(email="ann@example.com", **fields)

    assert exc.value.message_dict == {field: [message]}
    assert not Lead.objects.exists()
