"""POST /api/v1/forms/<form_key>/submissions/: the public JSON/urlencoded endpoint."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from capture.models import Activity, ActivityKind, FormStatus, Lead, Submission
from capture.spam import render_token
from capture.validation import HONEYPOT_FIELD
from tests.factories import FormFactory, LeadFactory

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.example.com"


@pytest.fixture
def form():
    return FormFactory(with_fields=True, name="Ebook")


def post(client, form, body, *, content_type="application/json", **meta):
    """``meta``: WSGI environ entries, e.g. HTTP_ORIGIN=…, REMOTE_ADDR=…"""
    data = json.dumps(body) if content_type == "application/json" and not isinstance(
        body, str | bytes) else body
    return client.post(f"/api/v1/forms/{form.key}/submissions/", data,
                       content_type=content_type, **meta)


def test_it_creates_a_lead_a_submission_and_an_activity(client, form):
    response = post(client, form, {"email": "ann@example.com", "first_name": "Ann",
                                   "company": "Acme", "topic": "a"})

    assert response.status_code == 201
    body = response.json()
    lead = Lead.objects.get()
    submission = Submission.objects.get()
    assert body["lead"] == lead.pk
    assert body["submission"] == submission.pk
    assert body["ignored_fields"] == []
    assert (lead.email, lead.first_name, lead.company) == ("ann@example.com", "Ann", "Acme")
    assert lead.attributes == {"topic": "a"}
    assert submission.data == {"email": "ann@example.com", "first_name": "Ann",
                               "company": "Acme", "topic": "a"}
    assert submission.channel == "api"
    activity = Activity.objects.get()
    assert activity.kind == ActivityKind.FORM_SUBMITTED
    assert activity.data["form_name"] == "Ebook"
    assert activity.data["submission"] == submission.pk
    assert activity.data["new_lead"] is True


def test_it_accepts_urlencoded_posts(client, form):
    response = client.post(f"/api/v1/forms/{form.key}/submissions/",
                           {"email": "ann@example.com", "company": "Acme"})

    assert response.status_code == 201
    assert Lead.objects.get().company == "Acme"


def test_a_returning_email_in_other_case_updates_the_same_lead(client, form):
    post(client, form, {"email": "ann@example.com", "first_name": "Ann", "topic": "a"})

    response = post(client, form, {"email": "  ANN@Example.com ", "first_name": "",
                                    "company": "Acme", "topic": "b"})

    assert response.status_code == 201
    lead = Lead.objects.get()
    assert lead.first_name == "Ann"  # a blank never erases what is known
    assert lead.company == "Acme"
    assert lead.attributes == {"topic": "b"}
    assert Submission.objects.count() == 2
    assert Activity.objects.filter(kind=ActivityKind.FORM_SUBMITTED).count() == 2
    assert Activity.objects.latest("id").data["new_lead"] is False


def test_it_keeps_first_touch_and_replaces_last_touch(client, form):
    post(client, form, {"email": "ann@example.com"},
         HTTP_REFERER="https://www.example.com/ebook?utm_source=google&utm_campaign=q3")
    post(client, form, {"email": "ann@example.com",
                        "_lh_page": "https://www.example.com/demo?utm_source=newsletter"})

    lead = Lead.objects.get()
    assert (lead.first_utm_source, lead.first_utm_campaign) == ("google", "q3")
    assert lead.last_utm_source == "newsletter"
    assert lead.last_landing_url == "https://www.example.com/demo?utm_source=newsletter"
    assert lead.source == "google"


def test_fields_not_on_the_form_are_ignored_reported_and_never_written(client, form):
    owner = LeadFactory()  # any id will do
    response = post(client, form, {"email": "ann@example.com", "score": 1000,
                                   "owner": owner.pk, "stage": "customer",
                                   "unsubscribed": True, "grade": "A"})

    assert response.status_code == 201
    assert sorted(response.json()["ignored_fields"]) == [
        "grade", "owner", "score", "stage", "unsubscribed"]
    lead = Lead.objects.get(email="ann@example.com")
    assert (lead.score, lead.grade, lead.stage, lead.owner_id) == (0, "", "lead", None)
    assert lead.unsubscribed_at is None
    assert "score" not in Submission.objects.get().data


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"first_name": "Ann"}, "email", "This field is required."),
        ({"email": ""}, "email", "This field is required."),
        ({"email": "not an email"}, "email", "Enter a valid email address."),
        ({"email": "ann@example.com", "topic": "c"}, "topic", "“c” is not one of the choices."),
        ({"email": ["a@x.com", "b@x.com"]}, "email", "Enter a single value."),
        ({"email": {"x": 1}}, "email", "Enter text."),
    ],
)
def test_invalid_input_is_a_400_with_per_field_errors_and_stores_nothing(
    client, form, body, field, message
):
    response = post(client, form, body)

    assert response.status_code == 400
    assert response.json() == {"errors": {field: [message]}}
    assert not Submission.objects.exists()
    assert not Lead.objects.exists()


def test_values_are_trimmed_and_length_capped(client, form):
    post(client, form, {"email": "ann@example.com", "first_name": "  " + "A" * 400 + "  "})

    assert Lead.objects.get().first_name == "A" * 150  # Lead.first_name's length


def test_malformed_json_is_a_400(client, form):
    response = post(client, form, '{"email": ', content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["body"]


def test_a_json_array_is_a_400(client, form):
    response = post(client, form, ["ann@example.com"])

    assert response.status_code == 400
    assert response.json() == {"errors": {"body": ["Send a JSON object of field: value."]}}


@pytest.mark.parametrize(("body", "content_type", "status", "answer"), [
    # The body as DRF's parsers read it (the view reads it itself, past DRF's Request).
    ('{"email": "ann@example.com"}', "application/json; charset=utf-8", 201, None),
    ('{"email": "ann@example.com"}', "Application/JSON", 201, None),
    ('{"email": "ann@example.com", "n": NaN}', "application/json", 400,
     {"errors": {"body": ["JSON parse error - Out of range float values are not JSON "
                          "compliant: 'NaN'"]}}),
    ("[" * 100_000 + "]" * 100_000, "application/json", 400,
     {"errors": {"body": ["JSON parse error - nested too deeply."]}}),
    ("", "application/json", 400, {"errors": {"email": ["This field is required."]}}),
    ("email=ann@example.com", "text/plain", 415,
     {"detail": 'Unsupported media type "text/plain" in request.'}),
    ("--x\r\nbroken", "multipart/form-data; boundary=", 400, None),
])
def test_a_body_is_read_as_the_content_type_says(client, form, body, content_type, status,
                                                 answer, settings):
    settings.FORM_MAX_BODY_BYTES = 1_000_000
    response = post(client, form, body, content_type=content_type, HTTP_ORIGIN=ORIGIN)

    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == ORIGIN  # readable by the page
    if answer is not None:
        assert response.json() == answer
    if status != 201:
        assert not Submission.objects.exists()


def test_a_wrong_content_type_is_a_415(client, form):
    response = post(client, form, "email=ann@example.com", content_type="text/plain")

    assert response.status_code == 415
    assert not Submission.objects.exists()


def test_an_oversized_body_is_a_413(client, form, settings):
    settings.FORM_MAX_BODY_BYTES = 1000

    response = post(client, form, {"email": "ann@example.com", "first_name": "x" * 2000})

    assert response.status_code == 413
    assert not Submission.objects.exists()


def test_an_unknown_form_is_a_404(client):
    response = client.post("/api/v1/forms/nope/submissions/", {"email": "a@example.com"},
                           content_type="application/json", HTTP_ORIGIN=ORIGIN)

    assert response.status_code == 404
    assert response["Access-Control-Allow-Origin"] == "*"  # an embed can read why


@pytest.mark.parametrize("status", [FormStatus.DRAFT, FormStatus.ARCHIVED])
def test_a_form_that_is_not_live_is_a_404(client, status):
    form = FormFactory(status=status)

    response = post(client, form, {"email": "ann@example.com"})

    assert response.status_code == 404
    assert not Submission.objects.exists()


def test_a_disallowed_origin_is_a_403_without_cors_headers(client, form):
    response = post(client, form, {"email": "ann@example.com"},
                    HTTP_ORIGIN="https://evil.example.net")

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert not Submission.objects.exists()


def test_an_allowed_origin_gets_cors_headers(client, form):
    response = post(client, form, {"email": "ann@example.com"}, HTTP_ORIGIN=ORIGIN)

    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response["Access-Control-Expose-Headers"] == "Retry-After"
    assert "Origin" in response["Vary"]


def test_the_preflight_answers_allowed_origins_only(client, form):
    url = f"/api/v1/forms/{form.key}/submissions/"

    allowed = client.options(url, HTTP_ORIGIN=ORIGIN,
                             HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    refused = client.options(url, HTTP_ORIGIN="https://evil.example.net",
                             HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")

    assert allowed.status_code == 204
    assert allowed["Access-Control-Allow-Origin"] == ORIGIN
    assert "Idempotency-Key" in allowed["Access-Control-Allow-Headers"]
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused


def test_a_filled_honeypot_is_filed_as_spam_and_looks_like_success(client, form):
    response = post(client, form, {"email": "bot@example.com", "lh_url": "http://spam"})

    assert response.status_code == 201
    submission = Submission.objects.get()
    assert response.json()["submission"] == submission.pk
    assert isinstance(response.json()["lead"], int)
    assert submission.is_spam
    assert submission.spam_reason == "honeypot field filled"
    assert not Lead.objects.exists()
    assert not Activity.objects.exists()


def test_a_flagged_answer_has_the_shape_of_a_genuine_one_and_names_no_lead(client, form):
    LeadFactory(email="earlier@example.com")

    genuine = post(client, form, {"email": "ann@example.com"}).json()
    flagged = post(client, form, {"email": "bot@example.com", "lh_url": "http://spam"}).json()
    later = post(client, form, {"email": "bob@example.com"}).json()

    assert flagged.keys() == genuine.keys()
    assert {k: type(v) for k, v in flagged.items()} == {k: type(v) for k, v in genuine.items()}
    # Ids of the lead table's own sequence, in the order the posts came…
    assert genuine["lead"] < flagged["lead"] < later["lead"]
    assert flagged["submission"] == genuine["submission"] + 1
    # …and the decoy is no lead's, not even a later one's.
    assert not Lead.objects.filter(pk=flagged["lead"]).exists()
    assert Submission.objects.get(pk=flagged["submission"]).decoy_lead_id == flagged["lead"]


def test_the_first_post_ever_flagged_still_names_no_later_lead(client, form):
    flagged = post(client, form, {"email": "bot@example.com", "lh_url": "x"}).json()
    genuine = post(client, form, {"email": "ann@example.com"}).json()

    assert flagged["lead"] != genuine["lead"]
    assert not Lead.objects.filter(pk=flagged["lead"]).exists()


def test_the_same_address_flagged_again_gets_the_same_lead_id(client, form,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, form, {"email": "bot@example.com", "lh_url": "x"}).json()
    with django_capture_on_commit_callbacks(execute=True):
        again = post(client, form, {"email": " BOT@example.com", "lh_url": "y"}).json()
        other = post(client, form, {"email": "eve@example.com", "lh_url": "y"}).json()

    assert first["lead"] == again["lead"]  # as a real lead's id would be
    assert other["lead"] not in (first["lead"], None)
    assert first["submission"] != again["submission"]


def test_a_retried_flagged_post_gets_its_first_answer(client, form):
    body = {"email": "bot@example.com", "lh_url": "x"}

    first = post(client, form, body, HTTP_IDEMPOTENCY_KEY="k-1")
    retry = post(client, form, body, HTTP_IDEMPOTENCY_KEY="k-1")

    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert Submission.objects.count() == 1


def test_not_spam_makes_the_real_lead_with_an_id_of_its_own(client, form, marketer):
    from capture.services.submissions import submission_mark_not_spam

    flagged = post(client, form, {"email": "ann@example.com", "lh_url": "x"}).json()

    outcome = submission_mark_not_spam(
        submission=Submission.objects.get(pk=flagged["submission"]), actor=marketer)

    lead = Lead.objects.get()
    assert outcome.lead_id == lead.pk != flagged["lead"]
    assert lead.email == "ann@example.com"
    assert Submission.objects.get().lead == lead
    assert Activity.objects.filter(kind=ActivityKind.FORM_SUBMITTED, lead=lead).exists()


def test_a_post_faster_than_a_person_could_type_is_spam(client, form):
    token = render_token(form_id=form.pk)

    response = post(client, form, {"email": "bot@example.com", "_lh_token": token})

    assert response.status_code == 201
    submission = Submission.objects.get()
    assert submission.is_spam
    assert "after the form was shown" in submission.spam_reason


def test_a_forged_render_token_is_spam(client, form):
    response = post(client, form, {"email": "bot@example.com", "_lh_token": "forged:token"})

    assert response.status_code == 201
    assert Submission.objects.get().spam_reason == "render token forged or for another form"


def test_a_render_token_old_enough_is_not_spam(client, form, time_machine):
    time_machine.move_to("2026-11-22 10:00:00Z", tick=False)
    token = render_token(form_id=form.pk)
    time_machine.move_to("2026-11-22 10:00:20Z", tick=False)

    response = post(client, form, {"email": "ann@example.com", "_lh_token": token})

    assert response.json()["lead"] is not None
    assert Submission.objects.get().channel == "embed"


def test_disposable_addresses_are_flagged_or_refused_per_form(client):
    flagging = FormFactory(disposable_emails="flag")
    blocking = FormFactory(disposable_emails="block")

    flagged = post(client, flagging, {"email": "x@mailinator.com"})
    refused = post(client, blocking, {"email": "x@mailinator.com"})

    assert flagged.status_code == 201
    assert Submission.objects.get().spam_reason == "disposable email address"
    assert refused.status_code == 400
    assert "permanent email address" in refused.json()["errors"]["email"][0]


def test_the_per_address_rate_limit_answers_429_with_retry_after(client, form, settings):
    settings.FORM_RATE_PER_IP = "2/minute"

    answers = [post(client, form, {"email": f"p{i}@example.com"}).status_code for i in range(3)]

    assert answers == [201, 201, 429]
    throttled = post(client, form, {"email": "p9@example.com"})
    assert int(throttled["Retry-After"]) >= 1
    assert Submission.objects.count() == 2


def test_a_forged_x_forwarded_for_does_not_reset_the_rate_limit(client, form, settings):
    settings.FORM_RATE_PER_IP = "1/minute"
    settings.TRUSTED_PROXIES = []  # nobody's X-Forwarded-For is believed

    first = post(client, form, {"email": "a@example.com"}, HTTP_X_FORWARDED_FOR="1.2.3.4")
    second = post(client, form, {"email": "b@example.com"}, HTTP_X_FORWARDED_FOR="5.6.7.8")

    assert (first.status_code, second.status_code) == (201, 429)


def test_the_per_form_rate_limit_applies_across_addresses(client, form, settings):
    settings.FORM_RATE_PER_FORM = "1/minute"

    first = post(client, form, {"email": "a@example.com"}, REMOTE_ADDR="10.0.0.1")
    second = post(client, form, {"email": "b@example.com"}, REMOTE_ADDR="10.0.0.2")

    assert (first.status_code, second.status_code) == (201, 429)


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(client, form):
    body = {"email": "ann@example.com", "first_name": "Ann"}

    first = post(client, form, body, HTTP_IDEMPOTENCY_KEY="abc-123")
    retry = post(client, form, body, HTTP_IDEMPOTENCY_KEY="abc-123")

    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json()
    assert Submission.objects.count() == 1
    assert Activity.objects.filter(kind=ActivityKind.FORM_SUBMITTED).count() == 1


def test_the_same_idempotency_key_with_another_body_is_a_422(client, form):
    post(client, form, {"email": "ann@example.com"}, HTTP_IDEMPOTENCY_KEY="abc-123")

    response = post(client, form, {"email": "bob@example.com"}, HTTP_IDEMPOTENCY_KEY="abc-123")

    assert response.status_code == 422
    assert Submission.objects.count() == 1


def test_html_and_script_are_stored_as_text(client, form):
    evil = '<script>alert("x")</script>'
    post(client, form, {"email": "ann@example.com", "first_name": evil, "company": evil})

    assert Lead.objects.get().first_name == evil  # stored as typed; escaped on output


class _Commits:
    """Commits a block of code makes: each explicit COMMIT, and each writing statement run
    outside a transaction (in autocommit, which commits it by itself)."""

    def __init__(self, monkeypatch):
        self.explicit = 0
        self.autocommitted: list[str] = []
        original = connection.commit

        def counting_commit():
            self.explicit += 1
            original()

        monkeypatch.setattr(connection, "commit", counting_commit)

    def __call__(self, execute, sql, params, many, context):
        # (SQLite's backend sends its BEGIN as a statement while still in autocommit.)
        verb = sql.lstrip().split(None, 1)[0].upper()
        if connection.get_autocommit() and verb not in ("SELECT", "BEGIN"):
            self.autocommitted.append(sql)
        return execute(sql, params, many, context)

    @property
    def count(self) -> int:
        return self.explicit + len(self.autocommitted)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("existing_lead", [False, True])
@pytest.mark.parametrize("idempotency_key", [None, "key-1"])
def test_one_submission_takes_at_most_6_statements_and_one_commit(
    client, monkeypatch, existing_lead, idempotency_key
):
    form = FormFactory(with_fields=True)
    if existing_lead:
        LeadFactory(email="ann@example.com")
    # The follow-up task runs later, in a worker: not part of the request's statements.
    monkeypatch.setattr("capture.tasks.activity_process.delay", lambda *a, **k: None)
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    commits = _Commits(monkeypatch)

    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(commits):
        response = post(client, form, {"email": "Ann@Example.com", "first_name": "Ann",
                                       "company": "Acme", "topic": "a"}, **headers)

    assert response.status_code == 201
    # SQLite's backend issues BEGIN/COMMIT as statements; Postgres' driver does not.
    # Transaction control is what "one commit" counts, so it is counted apart.
    statements = [q["sql"] for q in queries.captured_queries
                  if not q["sql"].startswith(("BEGIN", "COMMIT"))]
    assert len(statements) <= 6, "\n".join(statements)
    assert not [s for s in statements if s.startswith(("SAVEPOINT", "RELEASE"))]
    assert commits.count == 1, (commits.explicit, commits.autocommitted)
    assert Lead.objects.count() == 1
    assert Submission.objects.count() == 1
    assert Activity.objects.filter(kind=ActivityKind.FORM_SUBMITTED).count() == 1


def test_a_render_token_never_claims_a_time_in_the_future(client):
    form = FormFactory(min_seconds=0)

    response = post(client, form, {"email": "ann@example.com",
                                   "_lh_token": render_token(form_id=form.pk)})

    assert response.json()["lead"] is not None


def test_a_process_reuses_a_live_form_it_loaded_until_the_form_changes(client, form):
    from capture.public import live_form_forget
    from capture.services import form_unpublish, form_update

    live_form_forget()
    with CaptureQueriesContext(connection) as first:
        post(client, form, {"email": "ann@example.com"})
    with CaptureQueriesContext(connection) as second:
        post(client, form, {"email": "bob@example.com"})

    form_tables = ("capture_form", "capture_formfield")

    def reads(queries):
        return [q["sql"] for q in queries.captured_queries
                if q["sql"].startswith("SELECT") and any(f'"{t}"' in q["sql"].split(
                    "WHERE")[0] for t in form_tables)]

    assert len(reads(first)) == 2  # the form, then its fields
    if connection.vendor == "postgresql":
        # No read at all: the submission's one statement checks the form is unchanged.
        assert reads(second) == []
        assert [q for q in second.captured_queries
                if q["sql"].startswith("WITH") and '"capture_form"' in q["sql"]]
    else:
        assert len(reads(second)) == 1  # only whether it is unchanged

    # A field added through the service is taken at once ...
    fields = [{"name": f.name, "type": f.type, "required": f.required, "maps_to": f.maps_to,
               "options": f.options, "label": f.label} for f in form.fields.all()]
    form_update(form=form, fields=[*fields, {"name": "budget", "type": "number",
                                             "required": True, "label": "Budget"}])
    response = post(client, form, {"email": "cy@example.com"})
    assert response.status_code == 400
    assert "budget" in response.json()["errors"]

    # ... and so is an unpublished form.
    form_unpublish(form=form)
    assert post(client, form, {"email": "dee@example.com"}).status_code == 404


def _changed_by_another_process(form, **changes):
    """What this process sees of a change another one made: the rows, and no signal."""
    from django.utils import timezone

    from capture.models import Form

    Form.objects.filter(pk=form.pk).update(updated_at=timezone.now(), **changes)


def test_a_field_another_process_added_is_required_at_once(client, form):
    from capture.models import FieldType, FormField

    post(client, form, {"email": "ann@example.com"})  # cached in this process
    FormField.objects.bulk_create([FormField(
        form=form, name="budget", type=FieldType.NUMBER, required=True, label="Budget",
        position=99)])
    _changed_by_another_process(form)

    response = post(client, form, {"email": "bob@example.com"})

    assert response.status_code == 400
    assert "budget" in response.json()["errors"]
    assert not Lead.objects.filter(email="bob@example.com").exists()
    assert Submission.objects.count() == Activity.objects.count() == 1
    # Judged by the form as it is now, and the new form is what the process keeps.
    response = post(client, form, {"email": "bob@example.com", "budget": "3"})
    assert response.status_code == 201
    assert Submission.objects.latest("pk").data["budget"] == 3


@pytest.mark.parametrize("honeypot", ["", "I am a bot"])
def test_a_form_another_process_unpublished_takes_no_post(client, form, honeypot):
    post(client, form, {"email": "ann@example.com"})  # cached in this process
    _changed_by_another_process(form, status=FormStatus.DRAFT)

    response = post(client, form, {"email": "bob@example.com", HONEYPOT_FIELD: honeypot})

    assert response.status_code == 404
    assert Submission.objects.count() == Lead.objects.count() == Activity.objects.count() == 1


def test_a_refusal_is_by_the_form_as_it_is_now_not_as_this_process_cached_it(client, form):
    """Origins allowed and a required field removed by another process: the post the
    cached form would refuse is taken."""
    from capture.models import FieldType, FormField

    extra = FormField.objects.create(form=form, name="budget", type=FieldType.NUMBER,
                                     required=True, label="Budget", position=99)
    form.allowed_origins = []
    form.save()
    assert post(client, form, {"email": "ann@example.com", "budget": "1"}).status_code == 201
    with connection.cursor() as cursor:  # as another process: no signal reaches this one
        cursor.execute("DELETE FROM capture_formfield WHERE id = %s", [extra.pk])
    _changed_by_another_process(form, allowed_origins=[ORIGIN])

    response = post(client, form, {"email": "bob@example.com"}, HTTP_ORIGIN=ORIGIN)

    assert response.status_code == 201, response.content
    assert Lead.objects.filter(email="bob@example.com").exists()


# --- Names and ids no database can store ----------------------------------------------------


@pytest.mark.parametrize("name", ["\\ud800", "a\\u0000b", "\\udfff\\ud800"])
def test_an_unstorable_name_not_on_the_form_is_left_out_and_never_a_500(client, form, name):
    client.raise_request_exception = False
    raw = f'{{"email": "ann@example.com", "{name}": 1, "score": 5}}'

    response = post(client, form, raw)

    assert response.status_code == 201
    assert response.json()["ignored_fields"] == ["score"]
    submission = Submission.objects.get()
    assert submission.ignored_fields == ["score"]
    assert response.json()["lead"] == Lead.objects.get().pk == submission.lead_id


def test_names_not_on_the_form_are_reported_capped_in_number_and_length(client, form):
    body = {"email": "ann@example.com", **{f"{i:03d}" + "x" * 300: i for i in range(200)}}

    response = post(client, form, body)

    ignored = response.json()["ignored_fields"]
    assert len(ignored) == 50
    assert ignored[0] == "000" + "x" * 97
    assert Submission.objects.get().ignored_fields == ignored


def test_names_that_are_the_same_once_cut_are_reported_once(client, form):
    body = {"email": "ann@example.com", "y" * 100 + "a": 1, "y" * 100 + "b": 2, " ": 3}

    response = post(client, form, body)

    assert response.json()["ignored_fields"] == ["y" * 100]


@pytest.mark.parametrize("vid", ["\\u0000", "abc\\ud800", "not-signed"])
def test_a_visitor_id_we_did_not_sign_is_dropped_before_anything_is_stored(
    client, form, vid, django_capture_on_commit_callbacks
):
    client.raise_request_exception = False
    raw = f'{{"email": "ann@example.com", "_lh_vid": "{vid}"}}'

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, form, raw)

    assert response.status_code == 201
    assert Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED).data["visitor"] == ""


def test_a_user_agent_with_a_null_character_is_stored_without_it(client, form):
    client.raise_request_exception = False

    response = post(client, form, {"email": "ann@example.com"},
                    HTTP_USER_AGENT="Bot\x00/1.0", HTTP_IDEMPOTENCY_KEY="k\x00ey")

    assert response.status_code == 201
    submission = Submission.objects.get()
    assert (submission.user_agent, submission.idempotency_key) == ("Bot/1.0", "key")


def test_an_html_post_with_an_unstorable_name_is_stored_whole(client, form):
    client.raise_request_exception = False

    response = client.post(f"/f/{form.key}/", "email=ann%40example.com&%00=1&x%00y=2&ok=3",
                           content_type="application/x-www-form-urlencoded")

    assert response.status_code == 303
    assert Submission.objects.get().ignored_fields == ["ok"]
    assert Lead.objects.count() == 1


# --- Idempotency of multipart and reordered posts ------------------------------------------


def _multipart(client, url, data, boundary, **meta):
    from django.test.client import encode_multipart

    return client.post(url, encode_multipart(boundary, data),
                       content_type=f"multipart/form-data; boundary={boundary}", **meta)


@pytest.mark.parametrize("path", ["/api/v1/forms/{key}/submissions/", "/f/{key}/"])
def test_a_multipart_retry_with_a_new_boundary_is_a_retry(client, form, path):
    url = path.format(key=form.key)
    data = {"email": "ann@example.com", "first_name": "Ann", "topic": ["a"]}

    first = _multipart(client, url, data, "----first7MA4YWxk", HTTP_IDEMPOTENCY_KEY="m-1")
    retry = _multipart(client, url, data, "----retry0Zq9Tb3", HTTP_IDEMPOTENCY_KEY="m-1")

    assert first.status_code == retry.status_code
    assert first.status_code in (201, 303)
    assert first.content == retry.content
    assert Submission.objects.count() == 1
    assert Activity.objects.filter(kind=ActivityKind.FORM_SUBMITTED).count() == 1


@pytest.mark.parametrize("path", ["/api/v1/forms/{key}/submissions/", "/f/{key}/"])
def test_a_multipart_post_with_other_fields_under_the_same_key_is_a_422(client, form, path):
    url = path.format(key=form.key)

    _multipart(client, url, {"email": "ann@example.com"}, "b-one", HTTP_IDEMPOTENCY_KEY="m-1")
    response = _multipart(client, url, {"email": "ann@example.com", "company": "Acme"},
                          "b-two", HTTP_IDEMPOTENCY_KEY="m-1")

    assert response.status_code == 422
    assert Submission.objects.count() == 1


def test_the_same_json_in_another_key_order_and_spacing_is_a_retry(client, form):
    first = post(client, form, '{"email": "ann@example.com", "company": "Acme"}',
                 HTTP_IDEMPOTENCY_KEY="j-1")
    retry = post(client, form, '{ "company":"Acme",\n "email":"ann@example.com" }',
                 HTTP_IDEMPOTENCY_KEY="j-1")

    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json()
    assert Submission.objects.count() == 1


def test_urlencoded_and_multipart_of_the_same_fields_are_the_same_post(client, form):
    url = f"/api/v1/forms/{form.key}/submissions/"

    first = client.post(url, "email=ann%40example.com&company=Acme",
                        content_type="application/x-www-form-urlencoded",
                        HTTP_IDEMPOTENCY_KEY="u-1")
    retry = _multipart(client, url, {"company": "Acme", "email": "ann@example.com"}, "b",
                       HTTP_IDEMPOTENCY_KEY="u-1")

    assert first.json() == retry.json()
    assert Submission.objects.count() == 1
