"""The scoring API: rules CRUD, categories, settings, rescore jobs and a lead's breakdown;
marketers and admins write, reps read, users without a role get 403."""

from datetime import timedelta

import pytest
import time_machine

from scoring import services
from scoring.models import RescoreJob, RescoreStatus, Rule, ScoringSettings
from tests.factories import (
    ActivityFactory,
    FitRuleFactory,
    LeadFactory,
    RescoreJobFactory,
    RuleFactory,
)
from tests.scoring.conftest import T0

pytestmark = pytest.mark.django_db

RULES = "/api/v1/scoring/rules/"
SETTINGS = "/api/v1/scoring/settings/"
RESCORE = "/api/v1/scoring/rescore/"
CATEGORIES = "/api/v1/scoring/categories/"

PRICING = {
    "name": "Pricing page", "kind": "behavior", "activity_kind": "page_viewed", "points": 10,
    "conditions": [{"field": "url", "op": "contains", "value": "/pricing"}],
    "max_times": 3, "expires_after_days": 30, "category": "intent",
}


def rule_url(rule) -> str:
    return f"{RULES}{getattr(rule, 'pk', rule)}/"


@pytest.fixture
def marketer_api(api_client_for, marketer):
    return api_client_for(marketer)


@pytest.fixture
def rep_api(api_client_for, rep):
    return api_client_for(rep)


@pytest.fixture
def admin_api(api_client_for, admin_user):
    return api_client_for(admin_user)


@pytest.fixture
def outsider_api(api_client_for, outsider):
    return api_client_for(outsider)


# --- Rules ----------------------------------------------------------------------------------


def test_a_marketer_creates_a_rule_and_a_rescore_is_queued(marketer_api, marketer):
    response = marketer_api.post(RULES, PRICING, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    rule = Rule.objects.get()
    assert response["Location"].endswith(rule_url(rule))
    assert {k: body[k] for k in PRICING} == PRICING
    assert body["count"] is None and body["active"] is True
    job = RescoreJob.objects.get()
    assert body["rescore_job"] == job.pk
    assert (job.requested_by, job.status) == (marketer, RescoreStatus.QUEUED)


def test_a_behaviour_rule_counts_as_engagement_unless_told(admin_api):
    without = {k: v for k, v in PRICING.items() if k != "category"}

    response = admin_api.post(RULES, without, format="json")

    assert response.status_code == 201
    assert response.json()["category"] == "engagement"
    response = admin_api.post(RULES, {**PRICING, "category": None}, format="json")
    assert response.status_code == 400
    assert response.json() == {"category": ["Behaviour rules count towards a category."]}


def test_a_fit_rule(marketer_api):
    response = marketer_api.post(RULES, {
        "name": "Free mail", "kind": "fit", "points": -5,
        "conditions": [{"field": "email", "op": "domain_in_list", "value": "freemail"}],
    }, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["category"] is None and response.json()["activity_kind"] == ""


def test_a_count_rule(marketer_api):
    response = marketer_api.post(RULES, {
        "name": "5 opens in a week", "kind": "behavior", "activity_kind": "email_opened",
        "points": 20, "count": 5, "window_days": 7,
    }, format="json")

    assert response.status_code == 201, response.json()
    assert (response.json()["count"], response.json()["window_days"]) == (5, 7)


@pytest.mark.parametrize(("change", "errors"), [
    ({"conditions": [{"field": "url", "op": "bigger", "value": 1}]},
     {"conditions": {"0": ["op: “bigger” is not an operator for url (equals, contains, "
                           "starts_with, in, contains_any, is_empty)."]}}),
    ({"conditions": [{"field": "salary", "op": "equals", "value": 1}]}, "conditions"),
    ({"conditions": [{"field": "url", "op": "contains", "value": 5}]},
     {"conditions": {"0": ["value: Give some text."]}}),
    ({"conditions": [{"field": "url", "op": "contains", "value": "/a"},
                     {"field": "url", "op": "contains"}]}, {"conditions": {"1": [
                         'A condition is {"field": …, "op": …, "value": …}.']}}),
    ({"conditions": "url contains pricing"}, "conditions"),
    ({"points": 0}, {"points": ["A rule must add or subtract points."]}),
    ({"points": "lots"}, "points"),
    ({"kind": "magic"}, "kind"),
    ({"activity_kind": ""}, {"activity_kind": ["Behaviour rules react to an activity kind."]}),
    ({"activity_kind": "score_changed"}, "activity_kind"),
    ({"activity_kind": "page viewed"}, "activity_kind"),
    ({"count": 5}, {"window_days": ["Give both a count and a window (e.g. 5 within 7 days), "
                                    "or neither."]}),
    ({"count": 1, "window_days": 7}, "count"),
    ({"max_times": 0}, "max_times"),
    ({"category": "nope"}, "category"),
    ({"name": ""}, "name"),
    ({"kind": "fit"}, {"activity_kind": ["Fit rules test the lead's fields, not activities."],
                       "category": ["Fit rules add to the fit score, which has no categories."],
                       "max_times": ["Only behaviour rules have this option."],
                       "expires_after_days": ["Only behaviour rules have this option."],
                       "conditions": {"0": ["field: “url” is not a field a fit rule can test "
                                            "(email, first_name, last_name, company, job_title, "
                                            "phone, website, country, industry, source, "
                                            "company_size, attributes.<name>)."]}}),
])
def test_bad_rules_get_400_per_field(marketer_api, change, errors):
    response = marketer_api.post(RULES, {**PRICING, **change}, format="json")

    assert response.status_code == 400
    if isinstance(errors, str):
        assert set(response.json()) == {errors}
    else:
        assert response.json() == errors
    assert not Rule.objects.exists()


def test_a_marketer_changes_and_deletes_a_rule(marketer_api):
    rule = RuleFactory(points=10)

    response = marketer_api.patch(rule_url(rule), {"points": 12, "max_times": 1},
                                  format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["points"], response.json()["max_times"]) == (12, 1)
    assert response.json()["rescore_job"] == RescoreJob.objects.get().pk

    response = marketer_api.put(rule_url(rule), {**PRICING, "name": "Renamed"}, format="json")
    assert response.status_code == 200
    rule.refresh_from_db()
    assert (rule.name, rule.points, rule.category.key) == ("Renamed", 10, "intent")

    assert marketer_api.delete(rule_url(rule)).status_code == 204
    assert not Rule.objects.exists()


def test_a_patch_that_changes_nothing_queues_nothing(marketer_api):
    rule = RuleFactory(points=10)

    response = marketer_api.patch(rule_url(rule), {"points": 10}, format="json")

    assert response.status_code == 200 and response.json()["rescore_job"] is None
    assert not RescoreJob.objects.exists()


def test_a_patch_is_checked_against_the_rest_of_the_rule(marketer_api):
    rule = RuleFactory(points=10)

    response = marketer_api.patch(rule_url(rule), {"count": 3}, format="json")

    assert response.status_code == 400
    assert "window_days" in response.json()


def test_everyone_with_a_role_reads_rules(marketer_api, rep_api, admin_api):
    RuleFactory(name="B", position=2)
    RuleFactory(name="A", position=1)
    FitRuleFactory(name="Fit", position=0)

    for client in (marketer_api, rep_api, admin_api):
        response = client.get(RULES)
        assert response.status_code == 200
        assert [r["name"] for r in response.json()["results"]] == ["Fit", "A", "B"]
    assert [r["name"] for r in rep_api.get(RULES, {"kind": "fit"}).json()["results"]] == [
        "Fit"]
    assert [r["name"] for r in rep_api.get(RULES, {"ordering": "name"}).json()["results"]] == [
        "A", "B", "Fit"]


def test_reps_cannot_change_rules(rep_api):
    rule = RuleFactory()

    assert rep_api.post(RULES, PRICING, format="json").status_code == 403
    assert rep_api.patch(rule_url(rule), {"points": 1}, format="json").status_code == 403
    assert rep_api.delete(rule_url(rule)).status_code == 403
    assert rep_api.get(rule_url(rule)).status_code == 200


def test_outsiders_get_403_and_strangers_401(outsider_api, api_client_for):
    rule = RuleFactory()

    for url in (RULES, rule_url(rule), SETTINGS, CATEGORIES):
        assert outsider_api.get(url).status_code == 403
        assert api_client_for(None).get(url).status_code == 401
    assert outsider_api.post(RULES, PRICING, format="json").status_code == 403


# --- Categories and settings -----------------------------------------------------------------


def test_marketers_add_categories(marketer_api, rep_api):
    response = marketer_api.post(CATEGORIES, {"name": "Events"}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["key"] == "events"
    keys = [c["key"] for c in rep_api.get(CATEGORIES).json()["results"]]
    assert keys == ["engagement", "intent", "product_usage", "events"]
    assert marketer_api.post(CATEGORIES, {"name": "events"}, format="json").status_code == 400
    assert rep_api.post(CATEGORIES, {"name": "Other"}, format="json").status_code == 403


def test_settings_read_and_change(marketer_api, rep_api):
    assert rep_api.get(SETTINGS).json() | {"updated_at": None} == {
        "bands": {"A": 30, "B": 20, "C": 10, "D": 0}, "mql_score": 75, "mql_min_grade": "",
        "mql_category": None, "mql_category_min": None, "updated_at": None,
        "rescore_job": None}

    response = marketer_api.patch(SETTINGS, {"mql_score": 60, "mql_min_grade": "B",
                                             "bands": {"A": 40}}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["mql_score"], body["mql_min_grade"], body["bands"]["A"]) == (60, "B", 40)
    assert body["rescore_job"] == RescoreJob.objects.get().pk

    response = marketer_api.put(SETTINGS, {
        "bands": {"A": 50, "B": 30, "C": 20, "D": 5}, "mql_score": 80, "mql_min_grade": "",
        "mql_category": "intent", "mql_category_min": 15}, format="json")
    assert response.status_code == 200, response.json()
    settings = ScoringSettings.load()
    assert (settings.grade_d_min, settings.mql_category.key, settings.mql_category_min) == (
        5, "intent", 15)


@pytest.mark.parametrize(("change", "field"), [
    ({"bands": {"A": 10, "B": 20}}, "bands"),
    ({"mql_min_grade": "E"}, "mql_min_grade"),
    ({"mql_category": "intent"}, "mql_category_min"),
    ({"mql_category_min": 5}, "mql_category"),
    ({"mql_score": "high"}, "mql_score"),
])
def test_bad_settings_get_400(marketer_api, change, field):
    response = marketer_api.patch(SETTINGS, change, format="json")

    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_reps_cannot_change_settings(rep_api):
    assert rep_api.patch(SETTINGS, {"mql_score": 1}, format="json").status_code == 403


# --- Rescore ---------------------------------------------------------------------------------


def test_a_marketer_starts_a_rescore_and_follows_it(marketer_api, rep_api):
    response = marketer_api.post(RESCORE, {"reason": "new rules"}, format="json")

    assert response.status_code == 202
    job = RescoreJob.objects.get()
    assert response.json()["id"] == job.pk and response.json()["status"] == "queued"
    assert response["Location"].endswith(f"{RESCORE}{job.pk}/")

    LeadFactory()
    services.rescore_job_run(job_id=job.pk)
    progress = rep_api.get(f"{RESCORE}{job.pk}/").json()
    assert (progress["status"], progress["total"], progress["done"], progress["percent"]) == (
        "done", 1, 1, 100.0)
    assert progress["reason"] == "new rules"
    # Asked for by hand: every rule is matched again.
    assert (progress["full"], progress["rematch"], progress["scope"]) == (
        True, None, "every rule matched again")


def test_recent_rescores_are_listed_newest_first_a_page_at_a_time(rep_api, outsider_api,
                                                                  api_client_for):
    old, middle, new = (RescoreJobFactory(status=status, reason=reason) for status, reason in
                        (("done", "one"), ("failed", "two"), ("queued", "three")))

    response = rep_api.get(RESCORE, {"page_size": 2})

    assert response.status_code == 200
    body = response.json()
    assert [job["id"] for job in body["results"]] == [new.pk, middle.pk]
    assert body["results"][0] == rep_api.get(f"{RESCORE}{new.pk}/").json()
    assert body["previous"] is None and body["next"]
    rest = rep_api.get(body["next"]).json()
    assert [job["id"] for job in rest["results"]] == [old.pk] and rest["next"] is None
    assert rep_api.get(RESCORE, {"ordering": "status"}).status_code == 400
    assert outsider_api.get(RESCORE).status_code == 403
    assert api_client_for(None).get(RESCORE).status_code == 401


def test_asking_for_a_rescore_again_sends_a_stuck_queued_one_to_the_workers(
    marketer_api, django_capture_on_commit_callbacks
):
    LeadFactory()
    stuck = RescoreJobFactory(status="queued")  # its tasks never reached the broker

    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_api.post(RESCORE, {}, format="json")

    assert response.status_code == 202 and response.json()["id"] == stuck.pk
    stuck.refresh_from_db()
    assert stuck.status == RescoreStatus.DONE  # the tasks ran (eagerly, in tests)


def test_a_rule_change_names_the_rescore_it_queued_not_one_running(marketer_api):
    running = RescoreJobFactory(status="running")

    body = marketer_api.post(RULES, PRICING, format="json").json()

    queued = RescoreJob.objects.get(status=RescoreStatus.QUEUED)
    assert body["rescore_job"] == queued.pk != running.pk
    body = marketer_api.patch(SETTINGS, {"mql_score": 50}, format="json").json()
    assert body["rescore_job"] == queued.pk


def test_a_deleted_rule_is_gone_at_once_and_its_points_go_with_the_rescore(
    marketer_api, rep_api
):
    with time_machine.travel(T0, tick=False):
        rule = RuleFactory(conditions=[{"field": "url", "op": "contains", "value": "pricing"}],
                           points=10, name="Pricing")
        lead = LeadFactory()
        ActivityFactory(lead=lead, data={"url": "/pricing"}, occurred_at=T0)
        services.rescore_run_inline()

        assert marketer_api.delete(rule_url(rule)).status_code == 204

        assert marketer_api.get(rule_url(rule)).status_code == 404
        assert marketer_api.get(RULES).json()["results"] == []
        (line,) = rep_api.get(f"/api/v1/leads/{lead.pk}/score/").json()["rules"]
        assert (line["rule"], line["points"], line["deleted"]) == (rule.pk, 10, True)
        services.rescore_job_run(job_id=RescoreJob.objects.get(status="queued").pk)
        assert rep_api.get(f"/api/v1/leads/{lead.pk}/score/").json()["rules"] == []


def test_reps_cannot_start_a_rescore(rep_api):
    assert rep_api.post(RESCORE, {}, format="json").status_code == 403


def test_an_unknown_job_is_404(rep_api):
    assert rep_api.get(f"{RESCORE}999999/").status_code == 404


# --- A lead's score -------------------------------------------------------------------------


def test_a_leads_breakdown(rep_api, outsider_api):
    with time_machine.travel(T0, tick=False):
        rule = RuleFactory(conditions=[{"field": "url", "op": "contains", "value": "pricing"}],
                           points=10, expires_after_days=7, name="Pricing")
        lead = LeadFactory()
        view = ActivityFactory(lead=lead, data={"url": "/pricing"},
                               occurred_at=T0 - timedelta(days=1))
        services.rescore_run_inline()

        response = rep_api.get(f"/api/v1/leads/{lead.pk}/score/")

    assert response.status_code == 200
    body = response.json()
    assert (body["lead"], body["score"], body["grade"]) == (lead.pk, 10, "")
    assert body["categories"][0] == {"key": "engagement", "name": "Engagement", "points": 10}
    (line,) = body["rules"]
    assert (line["rule"], line["name"], line["points"], line["times"]) == (
        rule.pk, "Pricing", 10, 1)
    assert line["contributions"][0]["activity"] == view.pk
    assert line["contributions"][0]["expires_at"].startswith("2026-03-08T09:00:00")
    assert outsider_api.get(f"/api/v1/leads/{lead.pk}/score/").status_code == 403
    assert rep_api.get("/api/v1/leads/999999/score/").status_code == 404
