"""MQL hand-off and speed-to-lead as a rep lives them: who is told (in the app and by
email), when the clock starts and stops, and the bell and page that show it. Times
come from a controllable clock (time-machine), not from backdated rows."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from capture.models import Stage
from pipeline.models import Deal, Notification, NotificationKind
from pipeline.services import lead_change_stage, leads_promote_to_mql, note_add, task_add
from pipeline.tasks import sla_breaches_alert
from tests.factories import (
    AssignmentRuleFactory,
    LeadFactory,
    PipelineSettingsFactory,
    SalesRepFactory,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def inbox(user) -> list[tuple[str, str]]:
    return [(n.kind, n.text) for n in Notification.objects.filter(recipient=user)]


def first_touch(lead):
    deal = Deal.objects.filter(lead=lead).first()
    return deal.first_touch_at if deal else None


# --- Who is told -----------------------------------------------------------------------------


def test_the_rep_a_new_mql_is_dealt_to_is_told_in_the_app_and_by_email(
    rep, mailoutbox, django_capture_on_commit_callbacks
):
    AssignmentRuleFactory(members=[rep])
    lead = LeadFactory(stage=Stage.LEAD, first_name="Nia", last_name="New", owner=None)

    with django_capture_on_commit_callbacks(execute=True):
        leads_promote_to_mql(lead_ids=[lead.pk], reason="score 80")

    assert inbox(rep) == [(NotificationKind.MQL_ASSIGNED,
                           "Nia New became an MQL and is now yours.")]
    assert [m.to for m in mailoutbox] == [[rep.email]]


def test_the_owner_of_a_lead_scoring_makes_an_mql_is_told_too(
    rep, mailoutbox, django_capture_on_commit_callbacks
):
    lead = LeadFactory(stage=Stage.LEAD, first_name="Ola", last_name="Owned", owner=rep)

    with django_capture_on_commit_callbacks(execute=True):
        leads_promote_to_mql(lead_ids=[lead.pk], reason="score 80")

    assert inbox(rep) == [(NotificationKind.MQL_ASSIGNED,
                           "Ola Owned became an MQL and is yours to follow up.")]
    assert len(mailoutbox) == 1


def test_a_rep_marking_their_own_lead_an_mql_is_not_told_about_it(
    rep, mailoutbox, django_capture_on_commit_callbacks
):
    lead = LeadFactory(stage=Stage.LEAD, owner=rep)

    with django_capture_on_commit_callbacks(execute=True):
        lead_change_stage(lead=lead, to_stage=Stage.MQL, actor=rep)

    assert inbox(rep) == []
    assert mailoutbox == []
    assert first_touch(lead) is not None  # they are working it: that is the touch


def test_a_refused_move_leaves_no_notification():
    rep = SalesRepFactory()
    AssignmentRuleFactory(members=[rep])
    lead = LeadFactory(stage=Stage.CUSTOMER, owner=None)
    with pytest.raises(Exception, match="cannot move"):
        lead_change_stage(lead=lead, to_stage=Stage.MQL, by_system="scoring")
    assert inbox(rep) == []


def test_a_task_someone_else_gives_me_is_a_notification_but_my_own_is_not(rep):
    boss = SalesRepFactory(first_name="Bo", last_name="Boss")
    lead = LeadFactory(first_name="Tia", last_name="Task")

    task_add(lead=lead, creator=boss, title="Call back", due_at=T0, assignee=rep)
    task_add(lead=lead, creator=rep, title="Send deck", due_at=T0)

    assert inbox(rep) == [
        (NotificationKind.TASK_ASSIGNED, "Task for Tia Task by Bo Boss: Call back")]


# --- Speed-to-lead: when the clock starts, stops and alerts ----------------------------------


def test_an_mql_that_waits_past_the_sla_alerts_at_the_minute_not_before(rep, mailoutbox):
    boss = SalesRepFactory(email="boss@leadhub.test")
    AssignmentRuleFactory(members=[rep], manager=boss)
    PipelineSettingsFactory(sla_minutes=5)
    with time_machine.travel(T0, tick=False):
        lead = LeadFactory(stage=Stage.LEAD, owner=None, first_name="Late", last_name="Lee")
        leads_promote_to_mql(lead_ids=[lead.pk], reason="score")
    mailoutbox.clear()

    with time_machine.travel(T0 + timedelta(minutes=4, seconds=59), tick=False):
        assert sla_breaches_alert() == 0
    with time_machine.travel(T0 + timedelta(minutes=5, seconds=1), tick=False):
        assert sla_breaches_alert() == 1
        assert sla_breaches_alert() == 0  # once per hand-off

    alert = "Late Lee has waited over 5 minutes for a first touch from Sam Seller."
    assert (NotificationKind.SLA_BREACHED, alert) in inbox(rep)
    assert inbox(boss) == [(NotificationKind.SLA_BREACHED, alert)]
    assert sorted(mailoutbox[0].to) == sorted([rep.email, "boss@leadhub.test"])


def test_a_note_or_a_logged_call_in_time_stops_the_clock(rep):
    AssignmentRuleFactory(members=[rep])
    PipelineSettingsFactory(sla_minutes=5)
    with time_machine.travel(T0, tick=False):
        noted, called = (LeadFactory(stage=Stage.LEAD, owner=None) for _ in range(2))
        leads_promote_to_mql(lead_ids=[noted.pk, called.pk], reason="score")
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        note_add(lead=noted, author=rep, text="Left a voicemail")
        note_add(lead=called, author=rep, text="Talked 10 min, demo Thursday", kind="call")
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        assert sla_breaches_alert() == 0
    assert first_touch(called) == T0 + timedelta(minutes=3)


def test_an_integration_making_an_mql_starts_the_clock_for_the_owner_it_gets(
    rep, api_client_for, admin_user
):
    # The API client is a person's token, but it has not worked the lead for its new
    # owner: speed-to-lead must still run (it used to count as the first touch).
    AssignmentRuleFactory(members=[rep])
    PipelineSettingsFactory(sla_minutes=5)
    api = api_client_for(admin_user)
    with time_machine.travel(T0, tick=False):
        lead = LeadFactory(stage=Stage.LEAD, owner=None)
        response = api.patch(f"/api/v1/leads/{lead.pk}/", {"stage": "mql"}, format="json")
        assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert lead.owner == rep
    assert first_touch(lead) is None
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        assert sla_breaches_alert() == 1


def test_a_rep_handing_an_unowned_lead_to_the_rules_has_not_touched_it_for_its_owner():
    dealer, taker = SalesRepFactory(), SalesRepFactory()
    AssignmentRuleFactory(members=[taker])
    PipelineSettingsFactory(sla_minutes=5)
    with time_machine.travel(T0, tick=False):
        lead = LeadFactory(stage=Stage.LEAD, owner=None)
        lead_change_stage(lead=lead, to_stage=Stage.MQL, actor=dealer)
    lead.refresh_from_db()
    assert lead.owner == taker
    assert first_touch(lead) is None
    assert [k for k, _ in inbox(taker)] == [NotificationKind.MQL_ASSIGNED]


def test_the_lead_page_and_the_board_show_the_breach(client, rep):
    PipelineSettingsFactory(sla_minutes=5)
    with time_machine.travel(T0, tick=False):
        lead = LeadFactory(stage=Stage.LEAD, owner=rep)
        leads_promote_to_mql(lead_ids=[lead.pk], reason="score")
    client.force_login(rep)
    page = reverse("pipeline:lead_detail", args=[lead.pk])
    with time_machine.travel(T0 + timedelta(minutes=4), tick=False):
        assert 'data-testid="sla-breach"' not in client.get(page).content.decode()
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        assert 'data-testid="sla-breach"' in client.get(page).content.decode()
        board = client.get(reverse("pipeline:board")).content.decode()
        assert "is-sla-breach" in board


# --- The bell and the notifications page -------------------------------------------------------


@pytest.fixture
def two_for_rep(rep):
    lead = LeadFactory(first_name="Bea", last_name="Bell")
    other = SalesRepFactory()
    task_add(lead=lead, creator=other, title="First", due_at=T0, assignee=rep)
    task_add(lead=lead, creator=other, title="Second", due_at=T0, assignee=rep)
    task_add(lead=lead, creator=rep, title="Not mine", due_at=T0, assignee=other)
    return lead


def test_the_bell_counts_my_unread_notifications(client, rep, two_for_rep):
    client.force_login(rep)
    page = client.get(reverse("pipeline:lead_list")).content.decode()
    assert 'data-testid="notification-bell"' in page
    assert reverse("pipeline:notifications_badge") in page

    badge = client.get(reverse("pipeline:notifications_badge")).content.decode()
    assert 'data-testid="notification-count"' in badge
    assert ">2</span>" in badge


def test_the_page_lists_mine_and_following_one_reads_it_and_opens_the_lead(
    client, rep, two_for_rep
):
    client.force_login(rep)
    listing = client.get(reverse("pipeline:notifications"))
    html = listing.content.decode()
    assert html.count('data-testid="notification"') == 2
    assert "Not mine" not in html
    newest = Notification.objects.filter(recipient=rep).first()

    opened = client.get(reverse("pipeline:notification_open", args=[newest.pk]))

    assert opened.status_code == 302
    assert opened["Location"] == reverse("pipeline:lead_detail", args=[two_for_rep.pk])
    newest.refresh_from_db()
    assert newest.read_at is not None
    assert Notification.objects.filter(recipient=rep, read_at__isnull=True).count() == 1
    unread = client.get(reverse("pipeline:notifications"), {"unread": "1"}).content.decode()
    assert unread.count('data-testid="notification"') == 1


def test_mark_all_read_marks_only_mine(client, rep, two_for_rep):
    someone_else = Notification.objects.exclude(recipient=rep)
    client.force_login(rep)
    response = client.post(reverse("pipeline:notifications_read"),
                           {"next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == reverse("pipeline:notifications")  # no open redirect
    assert not Notification.objects.filter(recipient=rep, read_at__isnull=True).exists()
    assert someone_else.filter(read_at__isnull=True).exists()
    badge = client.get(reverse("pipeline:notifications_badge")).content.decode()
    assert "none unread" in badge


@pytest.mark.parametrize("bad", ["abc", "9" * 30, "-1", ""])
def test_odd_ids_mark_nothing_or_all_and_never_fail(client, rep, two_for_rep, bad):
    client.force_login(rep)
    response = client.post(reverse("pipeline:notifications_read"), {"id": bad})
    assert response.status_code == 302
    unread = Notification.objects.filter(recipient=rep, read_at__isnull=True).count()
    assert unread == (0 if bad == "" else 2)


def test_another_persons_notification_is_a_404_and_visitors_log_in(client, rep, two_for_rep):
    theirs = Notification.objects.exclude(recipient=rep).first()
    assert client.get(reverse("pipeline:notifications")).status_code == 302
    client.force_login(rep)
    assert client.get(reverse("pipeline:notification_open", args=[theirs.pk])).status_code == 404


def test_time_to_first_touch_belongs_to_each_hand_off_and_its_owner(rep):
    # Reassigning the lead later, or handing it off again, must not rewrite an earlier
    # hand-off's wait or move it to another rep.
    from pipeline.selectors import sla_report
    from pipeline.services import lead_assign_owner

    other = SalesRepFactory()
    with time_machine.travel(T0, tick=False):
        lead = LeadFactory(stage=Stage.LEAD, owner=rep)
        leads_promote_to_mql(lead_ids=[lead.pk], reason="score")
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        note_add(lead=lead, author=rep, text="Called")
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        lead_change_stage(lead=lead, to_stage=Stage.LEAD, actor=rep, reason="Too early")
        lead_assign_owner(lead=lead, owner=other, actor=rep)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        leads_promote_to_mql(lead_ids=[lead.pk], reason="score again")
    with time_machine.travel(T0 + timedelta(hours=1, minutes=10), tick=False):
        note_add(lead=lead, author=other, text="Emailed")
        report = sla_report(since=T0 - timedelta(days=1), now=T0 + timedelta(hours=2),
                            sla_minutes=5)

    assert {(row["owner"], row["touched"], row["median_minutes"]) for row in report["per_rep"]
            } == {(rep, 1, 2.0), (other, 1, 10.0)}
