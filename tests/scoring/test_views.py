"""The Scoring pages: the rules list, the rule editor (per-field and per-condition errors,
conditions added and removed, impact preview, test against a lead), delete, the active
switch, categories, grade bands and the MQL threshold, rescore progress, rule
effectiveness (and its CSV), the breakdown on the lead page; and who may do what."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from capture.models import Stage
from scoring import services
from scoring.models import RescoreJob, Rule, ScoreCategory, ScoringSettings
from tests.factories import (
    ActivityFactory,
    FitRuleFactory,
    LeadFactory,
    RescoreJobFactory,
    RuleFactory,
    StageTransitionFactory,
)

pytestmark = pytest.mark.django_db

PRICING = [{"field": "url", "op": "contains", "value": "/pricing"}]
INDEX = reverse("scoring:index")
NEW = reverse("scoring:rule_new")


def rule_post(conditions=(), action="save", **fields) -> dict:
    """What the editor posts: the rule's fields and its conditions formset."""
    data = {"name": "Pricing page", "activity_kind": "page_viewed", "category": "engagement",
            "points": "10", "max_times": "", "expires_after_days": "", "count": "",
            "window_days": "", "active": "on", "_action": action,
            "cond-TOTAL_FORMS": str(len(conditions)), "cond-INITIAL_FORMS": "0",
            "cond-MIN_NUM_FORMS": "0", "cond-MAX_NUM_FORMS": "20", **fields}
    for i, (field, op, value) in enumerate(conditions):
        data[f"cond-{i}-field"], data[f"cond-{i}-op"], data[f"cond-{i}-value"] = field, op, value
    return {k: v for k, v in data.items() if v is not None}


def views(lead, count):
    start = timezone.now() - timedelta(days=2)
    return [ActivityFactory(lead=lead, data={"url": "https://x.example/pricing"},
                            occurred_at=start + timedelta(hours=i)) for i in range(count)]


@pytest.fixture
def as_marketer(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def as_rep(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def scored():
    """A: 2 pricing views (20), B: 1 (10), C: none. MQL at 25, any grade."""
    services.settings_update(mql_score=25, mql_min_grade="", rescore=False)
    a = LeadFactory(email="ann@acme.example", first_name="Ann", last_name="Archer")
    b = LeadFactory(email="bob@beta.example", first_name="Bob", last_name="Archer")
    c = LeadFactory(email="cy@gamma.example")
    views(a, 2)
    views(b, 1)
    rule = RuleFactory(name="Pricing page", conditions=PRICING, points=10)
    services.rescore_run_inline()
    return rule, a, b, c


# --- The list -----------------------------------------------------------------------------


def test_the_list_shows_both_kinds_the_threshold_categories_and_the_rescore(as_marketer):
    rule = RuleFactory(name="Pricing page", conditions=PRICING, max_times=3,
                       expires_after_days=30)
    fit = FitRuleFactory(name="VP title", conditions=[
        {"field": "job_title", "op": "contains_any", "value": ["VP", "Director"]}], points=15)
    RescoreJobFactory(status="done", total=12, done=12, scores_changed=3)
    services.settings_update(mql_score=75, mql_min_grade="B", rescore=False)

    response = as_marketer.get(INDEX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Pricing page" in html and "VP title" in html
    assert "url contains /pricing" in html
    assert "job_title contains any of VP, Director" in html
    assert "at most 3× per lead" in html and "expires after 30 d" in html
    assert "score ≥ 75" in html and "grade B or better" in html
    assert reverse("scoring:rule_edit", args=[rule.pk]) in html
    assert reverse("scoring:rule_delete", args=[fit.pk]) in html
    assert reverse("scoring:settings") in html
    assert "Engagement" in html and "Add category" in html
    assert "Scores are up to date" in html and "3 scores" in html


def test_a_rep_sees_the_rules_without_any_control(as_rep):
    rule = RuleFactory(name="Pricing page")

    html = as_rep.get(INDEX).content.decode()

    assert "Pricing page" in html
    assert reverse("scoring:rule_edit", args=[rule.pk]) not in html
    assert reverse("scoring:rule_active", args=[rule.pk]) not in html
    assert NEW not in html and "Add category" not in html and "Rescore now" not in html


def test_signed_out_visitors_go_to_the_login_page(client):
    rule = RuleFactory()
    for url in (INDEX, reverse("scoring:settings"), reverse("scoring:effectiveness"),
                reverse("scoring:rescore_progress"), reverse("scoring:rule_edit", args=[rule.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    response = client.post(reverse("scoring:rule_delete", args=[rule.pk]))
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert Rule.objects.filter(pk=rule.pk).exists()


def test_a_user_without_a_role_gets_a_403(client, outsider):
    client.force_login(outsider)
    assert client.get(INDEX).status_code == 403


@pytest.fixture
def write_requests():
    rule = RuleFactory()
    pk = rule.pk
    return rule, [
        ("get", NEW), ("post", NEW), ("get", reverse("scoring:rule_edit", args=[pk])),
        ("post", reverse("scoring:rule_edit", args=[pk])),
        ("post", reverse("scoring:rule_preview", args=[pk])),
        ("post", reverse("scoring:rule_new_preview")),
        ("post", reverse("scoring:rule_test", args=[pk])),
        ("post", reverse("scoring:rule_active", args=[pk])),
        ("get", reverse("scoring:rule_delete", args=[pk])),
        ("post", reverse("scoring:rule_delete", args=[pk])),
        ("post", reverse("scoring:category_create")),
        ("post", reverse("scoring:settings")),
        ("post", reverse("scoring:rescore")),
    ]


def test_a_rep_gets_a_403_on_every_write_url(as_rep, write_requests):
    rule, requests = write_requests
    data = {**rule_post([("url", "contains", "/x")], points="99"), "active": "0",
            "name": "Events"}
    for method, url in requests:
        response = as_rep.post(url, data) if method == "post" else as_rep.get(url)
        assert response.status_code == 403, (method, url)
    rule.refresh_from_db()
    assert rule.points == 10 and rule.active
    assert not RescoreJob.objects.exists()
    assert Rule.objects.count() == 1


def test_writes_need_post_and_a_csrf_token(client, marketer):
    client = type(client)(enforce_csrf_checks=True)
    client.force_login(marketer)
    rule = RuleFactory()

    assert client.post(reverse("scoring:rule_delete", args=[rule.pk])).status_code == 403
    assert client.post(NEW, rule_post()).status_code == 403
    assert client.get(reverse("scoring:rule_active", args=[rule.pk])).status_code == 405
    assert client.get(reverse("scoring:rescore")).status_code == 405
    assert Rule.objects.count() == 1


# --- Creating and editing -------------------------------------------------------------------


def test_a_marketer_creates_a_behaviour_rule_and_a_rescore_is_queued(as_marketer, marketer):
    response = as_marketer.post(NEW + "?kind=behavior", rule_post(
        [("url", "contains", "/pricing"), ("properties.plan", "in", 'pro, 5, "7"')],
        max_times="3", expires_after_days="30", category="intent", points="-5"))

    rule = Rule.objects.get()
    assert response.status_code == 302
    assert response.url == f"{INDEX}#rule-{rule.pk}"
    assert (rule.kind, rule.activity_kind, rule.category.key, rule.points) == (
        "behavior", "page_viewed", "intent", -5)
    assert (rule.max_times, rule.expires_after_days, rule.count) == (3, 30, None)
    # Lists are split on commas; JSON fields keep numbers as numbers and "quoted" as text.
    assert rule.conditions == [{"field": "url", "op": "contains", "value": "/pricing"},
                               {"field": "properties.plan", "op": "in",
                                "value": ["pro", 5, "7"]}]
    assert rule.created_by == marketer
    assert RescoreJob.objects.filter(requested_by=marketer).exists()


def test_a_marketer_creates_a_fit_rule_with_a_list(as_marketer):
    response = as_marketer.post(NEW + "?kind=fit", rule_post(
        [("job_title", "contains_any", "VP, Director"), ("email", "domain_in_list", "freemail"),
         ("company_size", "gte", "50"), ("", "equals", "")],  # a blank row is skipped
        name="Senior buyer", points="15", activity_kind="page_viewed", max_times="3"))

    assert response.status_code == 302
    rule = Rule.objects.get()
    # The kind comes from the URL; behaviour-only fields a fit rule cannot have are dropped.
    assert (rule.kind, rule.activity_kind, rule.category, rule.max_times) == (
        "fit", "", None, None)
    assert rule.conditions == [
        {"field": "job_title", "op": "contains_any", "value": ["VP", "Director"]},
        {"field": "email", "op": "domain_in_list", "value": "freemail"},
        {"field": "company_size", "op": "gte", "value": 50},
    ]


def test_bad_input_gets_per_field_and_per_condition_errors_and_writes_nothing(as_marketer):
    response = as_marketer.post(NEW + "?kind=behavior", rule_post(
        [("url", "contains", "/pricing"), ("nonsense", "equals", "x"),
         ("url", "gt", "5")],
        points="0", activity_kind="score_changed", count="5"))

    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was saved" in html
    form = response.context["form"]
    assert form.errors["points"] == ["A rule must add or subtract points."]
    assert "LeadHub's own records" in form.errors["activity_kind"][0]
    assert "Give both a count and a window" in form.errors["window_days"][0]
    rows = response.context["formset"].forms
    assert not rows[0].errors
    assert "is not a field a behavior rule can test" in rows[1].errors["field"][0]
    assert "is not an operator for url" in rows[2].errors["op"][0]
    assert 'class="condition-row condition-row-invalid"' in html
    assert not Rule.objects.exists() and not RescoreJob.objects.exists()


def test_type_errors_are_shown_with_the_services_errors(as_marketer):
    response = as_marketer.post(NEW, rule_post([("url", "gt", "x")], name="", points="ten",
                                               activity_kind="stage_changed"))

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["name"] == ["This field is required."]
    assert errors["points"] == ["Enter a whole number."]
    # What could be read is still checked by the services, all at once.
    assert "LeadHub's own records" in errors["activity_kind"][0]
    assert response.context["formset"].forms[0].errors
    assert not Rule.objects.exists()


def test_the_editor_shows_a_saved_rule_and_saves_changes(as_marketer):
    rule = RuleFactory(name="Pricing page", conditions=[
        *PRICING, {"field": "properties.plan", "op": "equals", "value": "5"}],
        expires_after_days=30)
    url = reverse("scoring:rule_edit", args=[rule.pk])

    page = as_marketer.get(url)

    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="Pricing page"' in html and 'value="/pricing"' in html
    assert 'value="&quot;5&quot;"' in html  # text that looks like a number keeps its quotes
    assert 'value="30"' in html
    assert 'list="condition-fields"' in html and '<option value="properties.&lt;name&gt;">' in html

    response = as_marketer.post(url, rule_post(
        [("url", "contains", "/pricing"), ("properties.plan", "equals", '"5"')],
        name="Pricing page", points="25", expires_after_days="30"))

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.points == 25
    assert rule.conditions[1]["value"] == "5"
    assert RescoreJob.objects.count() == 1


def test_adding_and_removing_a_condition_changes_only_the_page(as_marketer):
    data = rule_post([("url", "contains", "/pricing"), ("title", "contains", "Plans")],
                     action="add")
    response = as_marketer.post(NEW, data, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert len(response.context["formset"].forms) == 3
    assert response.context["focus_row"] == 2
    assert "Nothing was saved" not in response.content.decode()

    response = as_marketer.post(NEW, {**data, "_action": "remove:0"})
    rows = response.context["formset"].forms
    assert [row["field"].value() for row in rows] == ["title"]
    assert not Rule.objects.exists()


def test_an_incomplete_editor_form_is_a_400(as_marketer):
    assert as_marketer.post(NEW, {"name": "x"}).status_code == 400


# --- Impact preview and test against a lead ---------------------------------------------------


def test_the_impact_preview_counts_changes_and_crossings_before_saving(as_marketer, scored):
    rule, a, *_ = scored
    url = reverse("scoring:rule_preview", args=[rule.pk])

    response = as_marketer.post(url, rule_post([("url", "contains", "/pricing")],
                                               points="15"), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    impact = response.context["impact"]
    # A 20 → 30 (crosses 25), B 10 → 15.
    assert (impact.leads_changed, impact.leads_up, impact.would_become_mql) == (2, 2, 1)
    html = response.content.decode()
    assert "<html" not in html  # a fragment
    assert 'data-testid="impact-changed">2</strong> of 3 leads' in html
    assert "would become MQL" in html
    rule.refresh_from_db()
    a.refresh_from_db()
    assert rule.points == 10 and a.score == 20  # nothing written


def test_the_impact_of_a_new_rule(as_marketer, scored):
    response = as_marketer.post(reverse("scoring:rule_new_preview") + "?kind=behavior",
                                rule_post([("url", "contains", "/pricing")], name="Again",
                                          points="-10"))

    impact = response.context["impact"]
    assert (impact.leads_changed, impact.leads_down, impact.points_delta) == (2, 2, -30)


def test_the_impact_preview_names_what_blocks_it(as_marketer, scored):
    response = as_marketer.post(reverse("scoring:rule_new_preview"),
                                rule_post([("nonsense", "equals", "x")], points="0"))

    assert response.status_code == 200
    assert response.context["impact"] is None
    html = response.content.decode()
    assert "Points: A rule must add or subtract points." in html
    assert "Condition 1 field:" in html


def test_the_editor_shows_the_preview_without_javascript(as_marketer, scored):
    rule = scored[0]
    response = as_marketer.post(reverse("scoring:rule_edit", args=[rule.pk]),
                                rule_post([("url", "contains", "/pricing")], action="preview",
                                          points="15"))

    assert response.status_code == 200
    assert response.context["impact"].leads_changed == 2
    assert 'data-testid="impact-result"' in response.content.decode()
    rule.refresh_from_db()
    assert rule.points == 10


def test_testing_against_a_lead_by_email(as_marketer, scored):
    rule, a, *_ = scored
    data = rule_post([("url", "contains", "/pricing")], points="15", max_times="1",
                     expires_after_days="30", test_lead=" ANN@acme.example ")

    response = as_marketer.post(reverse("scoring:rule_test", args=[rule.pk]), data,
                                HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    test = response.context["test"]
    assert response.context["test_lead"] == a
    # Two matching views, capped at one: 15 points instead of 20.
    assert (test.points, test.score_now, test.score_then) == (15, 20, 15)
    assert len(response.context["test_lines"]) == 2
    html = response.content.decode()
    assert 'data-testid="test-score-then">15<' in html
    assert "https://x.example/pricing" in html
    assert reverse("pipeline:lead_detail", args=[a.pk]) in html


def test_testing_against_a_lead_by_name_offers_a_choice(as_marketer, scored):
    rule, a, b, _ = scored
    url = reverse("scoring:rule_test", args=[rule.pk])
    data = rule_post([("url", "contains", "/pricing")], test_lead="archer")

    response = as_marketer.post(url, data)

    assert set(response.context["test_leads"]) == {a, b}
    assert response.context["test"] is None

    response = as_marketer.post(url, {**data, "test_lead_id": str(b.pk)})
    assert response.context["test"].points == 10

    response = as_marketer.post(url, {**data, "test_lead": "nobody-here"})
    assert "No lead matches “nobody-here”." in response.content.decode()


def test_testing_a_fit_rule_shows_the_grade_then(as_marketer, scored):
    _, a, *_ = scored
    a.job_title = "VP Sales"
    a.save()
    response = as_marketer.post(reverse("scoring:rule_new_test") + "?kind=fit", rule_post(
        [("job_title", "contains", "vp")], points="40", test_lead=a.email))

    test = response.context["test"]
    assert test.matched and test.points == 40 and test.grade_then == "A"


# --- Delete and the active switch ------------------------------------------------------------


def test_deleting_asks_first_and_shows_the_impact(as_marketer, scored):
    rule = scored[0]
    url = reverse("scoring:rule_delete", args=[rule.pk])

    page = as_marketer.get(url)

    assert page.status_code == 200
    assert page.context["impact"].leads_down == 2
    assert "Delete “Pricing page”?" in page.content.decode()
    assert Rule.objects.filter(pk=rule.pk).exists()

    response = as_marketer.post(url)
    assert response.status_code == 302 and response.url == INDEX
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert RescoreJob.objects.filter(reason__contains="deleted").exists()


def test_the_switch_turns_a_rule_off_and_on(as_marketer):
    rule = RuleFactory()
    url = reverse("scoring:rule_active", args=[rule.pk])

    assert as_marketer.post(url, {"active": "0"}).status_code == 302
    rule.refresh_from_db()
    assert not rule.active
    as_marketer.post(url, {"active": "1"})
    rule.refresh_from_db()
    assert rule.active


def test_an_unknown_rule_is_a_404(as_marketer):
    assert as_marketer.get(reverse("scoring:rule_edit", args=[999999])).status_code == 404
    assert as_marketer.post(reverse("scoring:rule_delete", args=[999999])).status_code == 404


# --- Categories ------------------------------------------------------------------------------


def test_a_marketer_adds_a_category(as_marketer):
    response = as_marketer.post(reverse("scoring:category_create"), {"name": "Events"})

    assert response.status_code == 302
    assert ScoreCategory.objects.filter(key="events", name="Events").exists()

    response = as_marketer.post(reverse("scoring:category_create"), {"name": "events"})
    assert response.status_code == 400
    assert "A category with this name exists." in response.content.decode()


# --- Settings --------------------------------------------------------------------------------


def settings_post(**values) -> dict:
    return {"grade_a_min": "30", "grade_b_min": "20", "grade_c_min": "10", "grade_d_min": "0",
            "mql_score": "75", "mql_min_grade": "B", "mql_category": "",
            "mql_category_min": "", **values}


def test_settings_are_validated_by_the_service(as_marketer):
    url = reverse("scoring:settings")

    response = as_marketer.post(url, settings_post(grade_b_min="40"))
    assert response.status_code == 400
    assert "A &gt; B &gt; C &gt; D" in response.content.decode()

    response = as_marketer.post(url, settings_post(mql_category="intent"))
    assert response.status_code == 400
    assert response.context["form"].errors["mql_category_min"] == [
        "Give both a category and its minimum, or neither."]

    response = as_marketer.post(url, settings_post(mql_score="many"))
    assert response.context["form"].errors["mql_score"] == ["Enter a whole number."]
    assert ScoringSettings.load().grade_b_min == 20
    assert not RescoreJob.objects.exists()


def test_settings_are_saved_and_queue_a_rescore(as_marketer, marketer):
    response = as_marketer.post(reverse("scoring:settings"), settings_post(
        mql_score="50", mql_min_grade="", mql_category="intent", mql_category_min="5"))

    assert response.status_code == 302
    current = ScoringSettings.load()
    assert (current.mql_score, current.mql_min_grade, current.mql_category.key,
            current.mql_category_min) == (50, "", "intent", 5)
    assert RescoreJob.objects.filter(requested_by=marketer).exists()


def test_the_settings_preview_counts_who_would_cross(as_marketer, scored):
    # MQL at 25: nobody qualifies (A 20, B 10, C 0); at 10, A and B would.
    response = as_marketer.post(reverse("scoring:settings"), settings_post(
        mql_score="10", mql_min_grade="", _action="preview"))

    assert response.status_code == 200
    impact = response.context["impact"]
    assert (impact.qualified_now, impact.qualified_then, impact.would_become_mql) == (0, 2, 2)
    assert "<strong>2</strong> would meet the threshold" in response.content.decode()
    assert ScoringSettings.load().mql_score == 25


def test_a_rep_sees_the_settings_read_only(as_rep):
    html = as_rep.get(reverse("scoring:settings")).content.decode()
    assert "<fieldset disabled>" in html and "save-settings" not in html


# --- Rescore progress -------------------------------------------------------------------------


def test_the_progress_fragment_polls_while_a_job_runs(as_rep):
    RescoreJobFactory(status="running", total=200, done=50, reason="rule “x” changed")

    response = as_rep.get(reverse("scoring:rescore_progress"))

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'hx-trigger="every 1s"' in html
    assert "25%" in html and "50 of 200 leads" in html
    assert response["Cache-Control"] == "no-store"


def test_the_progress_fragment_stops_polling_when_done(as_rep):
    RescoreJobFactory(status="done", total=200, done=200, promoted=2)

    html = as_rep.get(reverse("scoring:rescore_progress")).content.decode()

    assert "hx-trigger" not in html
    assert "Scores are up to date" in html and "2 new MQLs" in html


def test_the_progress_fragment_follows_the_running_job_not_the_one_queued_behind_it(as_rep):
    RescoreJobFactory(status="running", total=200, done=50, dispatched_at=timezone.now())
    RescoreJobFactory(status="queued", dispatched_at=timezone.now())

    html = as_rep.get(reverse("scoring:rescore_progress")).content.decode()

    assert "Running: 50 of 200 leads" in html and "25%" in html


def test_rescore_now_sends_a_stuck_queued_job_to_the_workers_again(
    as_marketer, django_capture_on_commit_callbacks
):
    waiting = RescoreJobFactory(status="queued", dispatched_at=timezone.now())
    html = as_marketer.get(reverse("scoring:rescore_progress")).content.decode()
    assert 'disabled title="A rescore is already queued"' in html
    assert "rescore-stuck" not in html

    # Its tasks never reached the broker (it was down when the job was queued).
    RescoreJob.objects.filter(pk=waiting.pk).update(dispatched_at=None)
    html = as_marketer.get(reverse("scoring:rescore_progress")).content.decode()
    assert 'data-testid="rescore-stuck"' in html
    assert "Its tasks have not reached the workers" in html
    assert "disabled" not in html

    LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        as_marketer.post(reverse("scoring:rescore"), HTTP_HX_REQUEST="true")

    waiting.refresh_from_db()
    assert waiting.status == "done"  # its tasks were sent (and ran: eager in tests)
    assert RescoreJob.objects.count() == 1
    html = as_marketer.get(reverse("scoring:rescore_progress")).content.decode()
    assert f"Scores are up to date: the last rescore (#{waiting.pk}" in html


def test_a_queued_job_nobody_started_for_long_is_shown_as_stuck(as_rep):
    RescoreJobFactory(status="queued", dispatched_at=timezone.now() - timedelta(minutes=6))

    html = as_rep.get(reverse("scoring:rescore_progress")).content.decode()

    assert "No worker has started it since it was sent" in html
    assert "6\xa0minutes ago" in html
    assert "“Rescore now”" not in html  # a rep cannot


def test_rescore_now_queues_a_job(as_marketer, marketer):
    response = as_marketer.post(reverse("scoring:rescore"), {"next": reverse("scoring:settings")})

    assert response.status_code == 302 and response.url == reverse("scoring:settings")
    assert RescoreJob.objects.get().requested_by == marketer

    response = as_marketer.post(reverse("scoring:rescore"), {"next": "https://evil.example/"})
    assert response.url == INDEX

    response = as_marketer.post(reverse("scoring:rescore"), HTTP_HX_REQUEST="true")
    assert 'id="rescore-status"' in response.content.decode()


# --- Rule effectiveness ------------------------------------------------------------------------


@pytest.fixture
def report_data():
    rule = RuleFactory(name="=cmd|' /C calc'!A0", conditions=PRICING)
    FitRuleFactory(name="VP title", conditions=[
        {"field": "job_title", "op": "contains", "value": "VP"}])
    a, b = LeadFactory(job_title="VP Sales"), LeadFactory(job_title="Intern")
    views(a, 1)
    services.rescore_run_inline()
    StageTransitionFactory(lead=a, from_stage=Stage.MQL, to_stage=Stage.SQL)
    return rule, a, b


def test_the_effectiveness_page_has_a_table_and_chart_data(as_rep, report_data):
    response = as_rep.get(reverse("scoring:effectiveness"))

    assert response.status_code == 200
    html = response.content.decode()
    report = response.context["report"]
    assert report.leads == 2 and report.reached_sql == 1
    assert 'id="effectiveness-data" type="application/json"' in html
    assert "chartjs-4.6.1/chart.umd.min.js" in html and "js/scoring-report.js" in html
    assert "<script>" not in html  # no inline script
    assert "100.0 %" in html  # the rule fired for A, which reached SQL
    today = timezone.localdate()
    assert f"start={today - timedelta(days=90):%Y-%m-%d}&amp;end={today:%Y-%m-%d}" in html


def test_the_effectiveness_csv_is_an_attachment_with_formulas_neutralised(as_rep, report_data):
    today = timezone.localdate()
    response = as_rep.get(reverse("scoring:effectiveness_csv"),
                          {"start": f"{today - timedelta(days=7):%Y-%m-%d}",
                           "end": f"{today:%Y-%m-%d}"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="rule-effectiveness-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    names = [row["rule"] for row in rows]
    assert "'=cmd|' /C calc'!A0" in names
    assert not any(name.startswith("=") for name in names)


def test_a_bad_period_is_refused(as_rep):
    response = as_rep.get(reverse("scoring:effectiveness"),
                          {"start": "2026-05-01", "end": "2026-01-01"})
    assert response.status_code == 400
    assert "The end comes before the start." in response.content.decode()
    response = as_rep.get(reverse("scoring:effectiveness_csv"), {"start": "nope", "end": ""})
    assert response.status_code == 400


# --- The lead page --------------------------------------------------------------------------


def test_the_lead_page_explains_the_score(as_rep):
    lead = LeadFactory(job_title="VP Sales")
    views(lead, 2)
    RuleFactory(name="Pricing page", conditions=PRICING, points=10, expires_after_days=30)
    FitRuleFactory(name="VP title", conditions=[
        {"field": "job_title", "op": "contains", "value": "VP"}], points=25)
    services.rescore_run_inline()

    response = as_rep.get(reverse("pipeline:lead_detail", args=[lead.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="score-breakdown"' in html
    assert 'data-testid="breakdown-score">20<' in html
    assert 'data-testid="breakdown-rule-points">+20<' in html
    assert "Pricing page" in html and "earned 2 times" in html
    assert "VP title" in html and 'data-testid="breakdown-fit">25<' in html
    assert "Engagement <strong" in html
    # A rep gets no link into the editor.
    assert "/scoring/rules/" not in html


def test_the_lead_page_marks_a_deleted_rules_points_until_the_rescore(as_marketer):
    lead = LeadFactory()
    views(lead, 1)
    rule = RuleFactory(name="Pricing page", conditions=PRICING, points=10)
    services.rescore_run_inline()
    services.rule_delete(rule=rule)

    html = as_marketer.get(reverse("pipeline:lead_detail", args=[lead.pk])).content.decode()

    assert 'data-testid="breakdown-rule-deleted"' in html and "Pricing page" in html
    assert reverse("scoring:rule_edit", args=[rule.pk]) not in html  # gone: no link
    assert as_marketer.get(reverse("scoring:rule_edit", args=[rule.pk])).status_code == 404
    assert f'id="rule-{rule.pk}"' not in as_marketer.get(INDEX).content.decode()


# --- Escaping --------------------------------------------------------------------------------


def test_rule_names_are_escaped_everywhere(as_marketer):
    lead = LeadFactory()
    views(lead, 1)
    rule = RuleFactory(name="<script>alert(1)</script>", conditions=[
        {"field": "url", "op": "contains", "value": "<b>x"}])
    RuleFactory(name="<img src=x onerror=alert(2)>", conditions=PRICING)
    services.rescore_run_inline()

    pages = [INDEX, reverse("scoring:rule_edit", args=[rule.pk]),
             reverse("scoring:rule_delete", args=[rule.pk]), reverse("scoring:effectiveness"),
             reverse("pipeline:lead_detail", args=[lead.pk])]
    for url in pages:
        html = as_marketer.get(url).content.decode()
        assert "<script>alert(1)" not in html, url
        assert "<img src=x" not in html and "<b>x" not in html, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in as_marketer.get(INDEX).content.decode()


def test_a_field_template_from_the_list_must_be_filled_in(as_marketer):
    response = as_marketer.post(NEW, rule_post([("properties.<name>", "equals", "pro")]))

    assert response.status_code == 400
    row = response.context["formset"].forms[0]
    assert row.errors["field"] == ["Replace “<name>” with the name to test (e.g. properties.plan)."]
    assert not Rule.objects.exists()


def test_the_editor_offers_each_fields_operators_to_its_script(as_marketer):
    html = as_marketer.get(NEW + "?kind=fit").content.decode()

    assert 'id="condition-ops" type="application/json"' in html
    assert '"company_size": ["equals", "gt", "gte", "lt", "lte", "is_empty"]' in html
    assert "js/scoring-editor.js" in html


def test_the_settings_preview_reads_category_subtotals(as_marketer, scored):
    url = reverse("scoring:settings")
    # A: engagement 20, B: engagement 10.
    response = as_marketer.post(url, settings_post(
        mql_score="10", mql_min_grade="", mql_category="engagement", mql_category_min="15",
        _action="preview"))
    impact = response.context["impact"]
    assert (impact.qualified_now, impact.qualified_then, impact.would_become_mql) == (0, 1, 1)

    # Now: a category nobody has points in; then: none. Leads without the subtotal count.
    services.settings_update(mql_score=10, mql_min_grade="",
                             mql_category=ScoreCategory.objects.get(key="intent"),
                             mql_category_min=1, rescore=False)
    response = as_marketer.post(url, settings_post(mql_score="10", mql_min_grade="",
                                                   _action="preview"))
    impact = response.context["impact"]
    assert (impact.qualified_now, impact.qualified_then, impact.would_become_mql,
            impact.would_drop_below) == (0, 2, 2, 0)


def test_saving_an_unchanged_rule_queues_no_rescore(as_marketer):
    rule = RuleFactory(name="Pricing page", conditions=PRICING, points=10)

    response = as_marketer.post(reverse("scoring:rule_edit", args=[rule.pk]),
                                rule_post([("url", "contains", "/pricing")]), follow=True)

    assert "had no changes to save" in response.content.decode()
    assert not RescoreJob.objects.exists()


def test_the_breakdown_tag_renders_for_a_lead_never_scored(rf, rep):
    from django.template import Context, Template

    lead = LeadFactory()
    request = rf.get("/")
    request.user = rep
    html = Template("{% load scoring_tags %}{% lead_score_breakdown lead %}").render(
        Context({"lead": lead, "request": request}))

    assert 'data-testid="breakdown-score">0<' in html
    assert "No behaviour rule has given this lead points yet." in html


def test_the_breakdown_words_unearned_matches_for_caps_and_counts(rf, rep):
    from django.template import Context, Template

    lead = LeadFactory()
    RuleFactory(name="Pricing page", conditions=PRICING, points=10, max_times=1)
    RuleFactory(name="Three opens", activity_kind="email_opened", points=20, count=3,
                window_days=7)
    RuleFactory(name="Two opens", activity_kind="email_opened", points=5, count=2,
                window_days=1, max_times=1)
    views(lead, 3)
    # Three opens, the first over a week before the others: "three in a week" never
    # completes; "two within a day" fires at the third (+5), the first two do not.
    start = timezone.now() - timedelta(days=10)
    for hours in (0, 200, 212):
        ActivityFactory(lead=lead, kind="email_opened", data={},
                        occurred_at=start + timedelta(hours=hours))
    services.rescore_run_inline()
    lead.refresh_from_db()
    request = rf.get("/")
    request.user = rep

    html = Template("{% load scoring_tags %}{% lead_score_breakdown lead %}").render(
        Context({"lead": lead, "request": request}))

    texts = [" ".join(t.split()) for t in re.findall(
        r'data-testid="breakdown-rule-times">(.*?)</span>', html, re.S)]
    assert sorted(texts) == sorted([
        "earned 1 time, 2 more over the cap of 1",
        "earned 0 times, 3 matches that did not complete the count (3 within 7 days)",
        "earned 1 time, 2 matches that did not complete the count (2 within 1 day)",
    ])
