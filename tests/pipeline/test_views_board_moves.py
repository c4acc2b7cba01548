"""Moving cards on the board: POST /leads/<id>/move/ calls pipeline.services, answers
the board's script in JSON (the new card and the columns' totals) and a plain form with
a redirect; refused moves change nothing and say why. And the poll for new MQLs."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from capture.models import ActivityKind, Stage
from pipeline.models import PipelineSettings, StageTransition
from tests.factories import LeadFactory, SalesRepFactory

JSON = {"Accept": "application/json"}


def move(client, lead, to, reason="", query="", **extra):
    url = reverse("pipeline:lead_move", args=[lead.pk]) + (f"?{query}" if query else "")
    return client.post(url, {"to": to, "reason": reason, **extra}, headers=JSON)


def test_a_rep_moves_an_mql_to_sql(client, rep):
    lead = LeadFactory(stage=Stage.MQL, first_name="Ann")
    LeadFactory(stage=Stage.MQL)
    client.force_login(rep)
    response = move(client, lead, Stage.SQL)
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] and data["stage"] == "sql"
    assert f'data-lead="{lead.pk}"' in data["card"] and 'data-stage="sql"' in data["card"]
    assert data["totals"]["mql"]["count"] == 1 and data["totals"]["sql"]["count"] == 1
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    transition = StageTransition.objects.get(lead=lead)
    assert (transition.from_stage, transition.to_stage, transition.by_user) == ("mql", "sql", rep)
    assert lead.activities.filter(kind=ActivityKind.STAGE_CHANGED).exists()


def test_the_totals_after_a_move_follow_the_boards_filters(client, rep):
    lead = LeadFactory(stage=Stage.MQL, grade="A")
    LeadFactory(stage=Stage.SQL, grade="C")
    client.force_login(rep)
    data = move(client, lead, Stage.SQL, query="grade=A").json()
    assert data["totals"]["sql"]["count"] == 1


def test_a_refused_move_changes_nothing_and_says_why(client, rep):
    lead = LeadFactory(stage=Stage.CUSTOMER)
    client.force_login(rep)
    response = move(client, lead, Stage.MQL)
    assert response.status_code == 400
    assert response.json() == {
        "ok": False, "message": "A lead cannot move from Customer to MQL."}
    lead.refresh_from_db()
    assert lead.stage == Stage.CUSTOMER
    assert not StageTransition.objects.exists()


@pytest.mark.parametrize(("from_stage", "to_stage"), [
    (Stage.MQL, Stage.LEAD), (Stage.SQL, Stage.DISQUALIFIED), (Stage.LEAD, Stage.DISQUALIFIED)])
def test_rejecting_an_mql_or_disqualifying_needs_a_reason(client, rep, from_stage, to_stage):
    lead = LeadFactory(stage=from_stage)
    client.force_login(rep)
    response = move(client, lead, to_stage)
    assert response.status_code == 400
    assert "needs a reason" in response.json()["message"]
    response = move(client, lead, to_stage, reason="no budget this year",
                    reason_choice="No budget")
    assert response.status_code == 200
    assert StageTransition.objects.get(lead=lead).reason == "No budget: no budget this year"


def test_an_unknown_stage_is_refused(client, rep):
    lead = LeadFactory()
    client.force_login(rep)
    response = move(client, lead, "<b>won</b>")
    assert response.status_code == 400
    assert "is not a stage" in response.json()["message"]


def test_marketers_may_not_move_leads(client, marketer):
    lead = LeadFactory(stage=Stage.MQL)
    client.force_login(marketer)
    response = move(client, lead, Stage.SQL)
    assert response.status_code == 403
    assert response.json()["ok"] is False
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


def test_outsiders_get_a_403_and_anonymous_visitors_the_login_page(client, outsider):
    lead = LeadFactory(stage=Stage.MQL)
    assert move(client, lead, Stage.SQL).status_code == 302
    client.force_login(outsider)
    assert move(client, lead, Stage.SQL).status_code == 403


def test_a_setting_can_stop_reps_moving_each_others_leads(client, rep, admin_user):
    lead = LeadFactory(stage=Stage.MQL, owner=SalesRepFactory())
    PipelineSettings.objects.create(pk=1, reps_move_others_leads=False)
    client.force_login(rep)
    response = move(client, lead, Stage.SQL)
    assert response.status_code == 403
    assert "another rep" in response.json()["message"]
    client.force_login(admin_user)
    assert move(client, lead, Stage.SQL).status_code == 200


def test_a_plain_form_post_redirects_back_with_a_message(client, rep):
    lead = LeadFactory(stage=Stage.CUSTOMER)
    client.force_login(rep)
    url = reverse("pipeline:lead_move", args=[lead.pk])
    response = client.post(url, {"to": "mql", "next": "https://evil.example/"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("pipeline:lead_detail", args=[lead.pk])
    assert "cannot move from Customer to MQL" in response.content.decode()


def test_the_poll_brings_new_mqls_assigned_to_me(client, rep):
    from pipeline.services import leads_promote_to_mql
    from tests.factories import AssignmentRuleFactory

    AssignmentRuleFactory(members=[rep])
    since = timezone.now() - timedelta(seconds=1)
    mine = LeadFactory(stage=Stage.LEAD, owner=None, first_name="Newbie")
    LeadFactory(stage=Stage.MQL, owner=SalesRepFactory())
    resubmitted = LeadFactory(stage=Stage.MQL, owner=rep)  # touched, but no news
    leads_promote_to_mql(lead_ids=[mine.pk], reason="score")
    client.force_login(rep)
    response = client.get(reverse("pipeline:board_poll"), {"since": since.isoformat()})
    data = response.json()
    assert [card["id"] for card in data["cards"]] == [mine.pk]
    assert resubmitted.pk not in [card["id"] for card in data["cards"]]
    assert "Newbie" in data["cards"][0]["html"]
    assert data["totals"]["mql"]["count"] == 3
    # The next poll looks back a little (commits lag their timestamps): the same
    # notification again, which the board recognises by its id and does not announce.
    later = client.get(reverse("pipeline:board_poll"), {"since": data["now"]}).json()
    assert [c["notification"] for c in later["cards"]] == [data["cards"][0]["notification"]]
    import time_machine

    a_minute_on = timezone.now() + timedelta(seconds=62)
    with time_machine.travel(a_minute_on, tick=False):
        again = client.get(reverse("pipeline:board_poll"),
                           {"since": a_minute_on.isoformat()}).json()
    assert again["cards"] == []


def test_the_poll_ignores_a_bad_since(client, rep):
    client.force_login(rep)
    data = client.get(reverse("pipeline:board_poll"), {"since": "yesterday"}).json()
    assert data["cards"] == []


def test_rejected_mqls_are_counted_per_source_form_and_reason(client, rep, marketer):
    from tests.factories import FormFactory, SubmissionFactory

    form = FormFactory(name="Ebook <b>form</b>")
    for i in range(3):
        lead = LeadFactory(stage=Stage.MQL, source="webinar" if i else "ads")
        if i:
            SubmissionFactory(form=form, lead=lead)
        move(client.__class__(), lead, Stage.LEAD)  # anonymous: refused, not counted
        client.force_login(rep)
        assert move(client, lead, Stage.LEAD, reason="Student").status_code == 200
    client.force_login(marketer)
    response = client.get(reverse("pipeline:rejections"))
    counts = response.context["counts"]
    assert counts["by_source"] == [{"label": "webinar", "count": 2},
                                   {"label": "ads", "count": 1}]
    assert {"label": "Ebook <b>form</b>", "count": 2} in counts["by_form"]
    assert counts["by_reason"] == [{"label": "Student", "count": 3}]
    assert "Ebook &lt;b&gt;form&lt;/b&gt;" in response.content.decode()


def test_a_move_refreshes_the_cached_column_totals(
    client, rep, django_capture_on_commit_callbacks
):
    lead = LeadFactory(stage=Stage.MQL)
    client.force_login(rep)
    board = reverse("pipeline:board")

    def count(stage):
        response = client.get(board)
        columns = [*response.context["columns"], response.context["disqualified"]]
        return next(c["count"] for c in columns if c["stage"] == stage)

    assert count("mql") == 1
    LeadFactory(stage=Stage.MQL)  # arrives from a form: counted within seconds, not at once
    with django_capture_on_commit_callbacks(execute=True):
        assert move(client, lead, Stage.SQL).status_code == 200
    assert (count("mql"), count("sql")) == (1, 1)


def test_the_hand_off_report_lists_sla_breaches_and_time_to_first_touch(client, rep):
    from pipeline.services import note_add

    PipelineSettings.objects.create(pk=1, sla_minutes=5)
    late = LeadFactory(stage=Stage.MQL, owner=rep, first_name="Late",
                       stage_changed_at=timezone.now() - timedelta(minutes=10))
    LeadFactory(stage=Stage.MQL, owner=rep, first_name="Fresh")
    touched = LeadFactory(stage=Stage.LEAD, owner=rep, first_name="Touched")
    from pipeline.services import leads_promote_to_mql

    leads_promote_to_mql(lead_ids=[touched.pk], reason="score")
    note_add(lead=touched, author=rep, text="Called within a minute")
    client.force_login(rep)
    response = client.get(reverse("pipeline:rejections"))
    assert [lead.pk for lead in response.context["sla"]["breaches"]] == [late.pk]
    [row] = response.context["sla"]["per_rep"]
    assert row["owner"] == rep and row["touched"] == 1 and row["median_minutes"] < 1
    assert 'data-testid="sla-breaches"' in response.content.decode()
