"""Assignment rules: a new MQL without an owner goes to the next member of the first
matching rule (round-robin), rules are tried in order, and a rule without conditions
is the fallback."""

from collections import Counter

import pytest

from capture.models import ActivityKind, Stage
from pipeline.services import lead_change_stage, leads_promote_to_mql
from tests.factories import AssignmentRuleFactory, LeadFactory, SalesRepFactory

pytestmark = pytest.mark.django_db


def promote(**fields):
    lead = LeadFactory(stage=Stage.LEAD, **fields)
    leads_promote_to_mql(lead_ids=[lead.pk], reason="score")
    lead.refresh_from_db()
    return lead


def test_round_robin_deals_leads_evenly_within_a_team():
    team = SalesRepFactory.create_batch(3)
    AssignmentRuleFactory(members=team)
    owners = [promote().owner for _ in range(30)]
    assert Counter(owners) == {rep: 10 for rep in team}
    assert owners[:3] == sorted(team, key=lambda u: u.pk)


def test_the_first_matching_rule_wins_and_the_fallback_takes_the_rest():
    dach, big, anyone = SalesRepFactory.create_batch(3)
    AssignmentRuleFactory(position=1, countries="DE, at ,CH", members=[dach])
    AssignmentRuleFactory(position=2, min_company_size=1000, members=[big])
    AssignmentRuleFactory(position=3, members=[anyone])
    assert promote(country="Germany").owner == anyone
    assert promote(country="de", company_size=5000).owner == dach
    assert promote(country="FR", company_size=5000).owner == big
    assert promote(country="FR", company_size=50).owner == anyone
    assert promote(company_size=None).owner == anyone


def test_rules_match_on_industry_source_and_a_size_range():
    rep = SalesRepFactory()
    AssignmentRuleFactory(industries="SaaS", sources="webinar", min_company_size=10,
                          max_company_size=200, members=[rep])
    assert promote(industry="saas", source="Webinar", company_size=50).owner == rep
    assert promote(industry="saas", source="webinar", company_size=500).owner is None
    assert promote(industry="retail", source="webinar", company_size=50).owner is None


def test_inactive_rules_and_teams_without_active_members_are_skipped():
    gone = SalesRepFactory(is_active=False)
    fallback = SalesRepFactory()
    AssignmentRuleFactory(position=1, members=[gone])
    AssignmentRuleFactory(position=2, active=False, members=[SalesRepFactory()])
    AssignmentRuleFactory(position=3, members=[fallback])
    assert promote().owner == fallback


def test_a_lead_that_has_an_owner_keeps_it():
    mine = SalesRepFactory()
    AssignmentRuleFactory(members=[SalesRepFactory()])
    assert promote(owner=mine).owner == mine


def test_no_rules_no_owner_and_the_assignment_is_on_the_timeline(rep):
    assert promote().owner is None
    AssignmentRuleFactory(members=[rep])
    lead = LeadFactory(stage=Stage.LEAD)
    lead_change_stage(lead=lead, to_stage=Stage.MQL, by_system="scoring", reason="x")
    activity = lead.activities.get(kind=ActivityKind.OWNER_CHANGED)
    assert activity.data["to"] == rep.pk and activity.data["by"] == "assignment rules"


def test_only_a_move_to_mql_assigns(rep):
    AssignmentRuleFactory(members=[rep])
    lead = LeadFactory(stage=Stage.LEAD)
    lead_change_stage(lead=lead, to_stage=Stage.SQL, actor=rep)
    lead.refresh_from_db()
    assert lead.owner is None


def test_the_new_owner_is_told_by_email(rep, mailoutbox, django_capture_on_commit_callbacks):
    AssignmentRuleFactory(members=[rep])
    with django_capture_on_commit_callbacks(execute=True):
        lead = promote(first_name="Nina", company="Acme <Corp>")
    assert lead.owner == rep
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [rep.email]
    assert mailoutbox[0].subject == "New MQL for you: " + lead.full_name + " (Acme <Corp>)"


def test_admins_manage_assignment_rules_through_the_api(api_client_for, admin_user, rep):
    api = api_client_for(admin_user)
    response = api.post("/api/v1/assignment-rules/", {
        "name": "DACH", "countries": "DE, AT", "members": [rep.pk], "position": 1})
    assert response.status_code == 201, response.json()
    rule = response.json()
    assert rule["members"] == [rep.pk] and rule["dealt"] == 0
    url = f"/api/v1/assignment-rules/{rule['id']}/"
    assert api.patch(url, {"active": False}).json()["active"] is False
    assert [r["id"] for r in api.get("/api/v1/assignment-rules/").json()["results"]] == [
        rule["id"]]
    bad = api.post("/api/v1/assignment-rules/", {"name": "x", "members": [999999],
                                                 "min_company_size": 50,
                                                 "max_company_size": 10})
    assert bad.status_code == 400 and "members" in bad.json()
    assert api.delete(url).status_code == 204
    assert api.get("/api/v1/assignment-rules/99999999999999999999/").status_code == 404


def test_reps_and_marketers_may_not_manage_assignment_rules(api_client_for, rep, marketer):
    for user in (rep, marketer):
        assert api_client_for(user).get("/api/v1/assignment-rules/").status_code == 403
        assert api_client_for(user).post("/api/v1/assignment-rules/",
                                         {"name": "x", "members": []}).status_code == 403


def test_an_mql_past_the_sla_alerts_its_owner_and_manager_once(rep, mailoutbox):
    from datetime import timedelta

    from django.utils import timezone

    from pipeline.models import PipelineSettings
    from pipeline.services import note_add
    from pipeline.tasks import sla_breaches_alert

    boss = SalesRepFactory(email="boss@leadhub.test")
    AssignmentRuleFactory(members=[rep], manager=boss)
    PipelineSettings.objects.create(pk=1, sla_minutes=5)
    late = LeadFactory(stage=Stage.MQL, owner=rep, first_name="Late",
                       stage_changed_at=timezone.now() - timedelta(minutes=6))
    LeadFactory(stage=Stage.MQL, owner=rep, stage_changed_at=timezone.now())  # in time
    touched = LeadFactory(stage=Stage.MQL, owner=rep,
                          stage_changed_at=timezone.now() - timedelta(minutes=30))
    note_add(lead=touched, author=rep, text="Called")
    assert sla_breaches_alert() == 1
    assert sorted(mailoutbox[0].to) == sorted([rep.email, "boss@leadhub.test"])
    assert "Late" in mailoutbox[0].subject
    assert sla_breaches_alert() == 0  # once per hand-off
    # An hour later it is rejected and promoted again: a new hand-off, a new clock, and
    # a new alert when that is missed too.
    from pipeline.models import Deal

    Deal.objects.filter(lead=late).update(sla_alerted_at=timezone.now() - timedelta(hours=1))
    late.refresh_from_db()
    lead_change_stage(lead=late, to_stage=Stage.LEAD, actor=rep, reason="not yet")
    lead_change_stage(lead=late, to_stage=Stage.MQL, by_system="scoring", reason="again")
    from capture.models import Lead

    Lead.objects.filter(pk=late.pk).update(
        stage_changed_at=timezone.now() - timedelta(minutes=10))  # 10 minutes pass
    assert sla_breaches_alert() == 1
