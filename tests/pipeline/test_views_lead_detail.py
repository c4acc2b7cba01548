"""/leads/<id>/: fields, attribution, stage history, the paginated timeline (with htmx
"load more"), each activity kind made readable, and user text escaped."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from capture.models import ActivityKind, Stage
from tests.factories import ActivityFactory, LeadFactory, SalesRepFactory, StageTransitionFactory

XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def url(lead, **params) -> str:
    return reverse("pipeline:lead_detail", args=[lead.pk])


@pytest.fixture
def as_rep(client, rep):
    client.force_login(rep)
    return client


def activities_on_page(response) -> list:
    return [entry.activity for entry in response.context["entries"]]


def test_it_shows_contact_company_and_pipeline_fields(as_rep, rep):
    lead = LeadFactory(
        email="ann@example.com", first_name="Ann", last_name="Lee", company="Acme",
        job_title="CTO", phone="+1 555 0100", website="https://acme.example",
        country="Portugal", industry="Software", company_size=250,
        stage=Stage.SQL, score=77, grade="A", owner=rep,
        attributes={"plan": "pro", "seats": 12}, marketing_consent=True,
        consent_at=timezone.now(), consent_text="Yes, send me news",
    )
    response = as_rep.get(url(lead))
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Ann Lee", "CTO", "Acme", "+1 555 0100", "Portugal", "Software",
                 "250 employees", "stage-sql", ">SQL<", ">77<", "grade-A", "Sam Seller",
                 'href="mailto:ann@example.com"', 'href="https://acme.example"',
                 "<dt>plan</dt>", "pro", "<dt>seats</dt>", "Agreed to marketing email",
                 "Yes, send me news"):
        assert text in html, text


def test_it_shows_first_and_last_touch_attribution_side_by_side(as_rep):
    lead = LeadFactory(
        first_utm_source="google", first_utm_campaign="spring-search",
        first_landing_url="https://www.example.com/pricing",
        last_utm_source="newsletter", last_utm_campaign="october-update",
    )
    html = as_rep.get(url(lead)).content.decode()
    table = html.split('data-testid="attribution"')[1].split("</table>")[0]
    assert "First touch" in table and "Last touch" in table
    source_row = table.split("UTM source")[1].split("</tr>")[0]
    assert source_row.index("google") < source_row.index("newsletter")
    assert "spring-search" in table and "october-update" in table
    assert 'href="https://www.example.com/pricing"' in table


def test_it_says_when_a_lead_has_no_attribution(as_rep):
    html = as_rep.get(url(LeadFactory())).content.decode()
    assert 'data-testid="attribution"' not in html
    assert "No campaign or referrer recorded" in html


def test_it_shows_unsubscribed_leads(as_rep):
    lead = LeadFactory(unsubscribed_at=timezone.now())
    assert "Unsubscribed on" in as_rep.get(url(lead)).content.decode()


def test_it_shows_the_timeline_newest_first(as_rep):
    lead = LeadFactory()
    now = timezone.now()
    old = ActivityFactory(lead=lead, occurred_at=now - timedelta(days=2))
    new = ActivityFactory(lead=lead, occurred_at=now)
    middle = ActivityFactory(lead=lead, occurred_at=now - timedelta(days=1))
    ActivityFactory()  # another lead's
    assert activities_on_page(as_rep.get(url(lead))) == [new, middle, old]


def test_it_pages_the_timeline_25_at_a_time(as_rep):
    lead = LeadFactory()
    now = timezone.now()
    made = [ActivityFactory(lead=lead, occurred_at=now - timedelta(minutes=i)) for i in range(26)]

    first = as_rep.get(url(lead))
    assert activities_on_page(first) == made[:25]
    html = first.content.decode()
    assert 'href="?page=2#timeline"' in html  # works without JavaScript
    assert 'hx-get="?page=2"' in html

    second = as_rep.get(url(lead), {"page": "2"})
    assert activities_on_page(second) == made[25:]
    assert 'data-testid="load-more"' not in second.content.decode()
    assert "Newest activity" in second.content.decode()


def test_it_answers_htmx_load_more_with_just_the_next_entries(as_rep):
    lead = LeadFactory(first_name="Ann")
    for _ in range(30):
        ActivityFactory(lead=lead)
    response = as_rep.get(url(lead), {"page": "2"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<nav" not in html
    assert html.count('data-testid="activity"') == 5
    assert "HX-Request" in response["Vary"]


def test_it_filters_the_timeline_by_kind_and_keeps_the_filter_across_pages(as_rep):
    lead = LeadFactory()
    for _ in range(27):
        ActivityFactory(lead=lead, kind=ActivityKind.PAGE_VIEWED)
    sent = ActivityFactory(lead=lead, kind=ActivityKind.EMAIL_SENT, data={"subject": "Hi"})
    opened = ActivityFactory(lead=lead, kind=ActivityKind.EMAIL_OPENED, data={"message": 1})
    trial = ActivityFactory(lead=lead, kind="trial_started", data={"properties": {}})

    # One choice for everything email (sent, opened, clicked, unsubscribed…), not one each.
    response = as_rep.get(url(lead), {"kind": "emails"})
    assert activities_on_page(response) == [opened, sent]
    html = response.content.decode()
    assert '<option value="emails" selected>Emails (2)</option>' in html
    assert '<option value="page_views">Page views (27)</option>' in html
    assert '<option value="events">Product events (1)</option>' in html
    assert "Submissions" not in html.split('id="timeline-kind"')[1].split("</select>")[0]

    assert activities_on_page(as_rep.get(url(lead), {"kind": "events"})) == [trial]
    paged = as_rep.get(url(lead), {"kind": "page_views"}).content.decode()
    assert 'href="?kind=page_views&amp;page=2#timeline"' in paged


@pytest.mark.parametrize("kind", ["x" * 200, "bad\x00kind", "nothing_like_this"])
def test_it_survives_odd_kind_and_page_values(as_rep, kind):
    lead = LeadFactory()
    ActivityFactory(lead=lead)
    assert as_rep.get(url(lead), {"kind": kind, "page": "-1"}).status_code == 200


def test_it_renders_each_activity_kind_readably(as_rep, rep):
    other = SalesRepFactory(first_name="Rita", last_name="Ramos")
    lead = LeadFactory()
    now = timezone.now()

    def add(kind, data, minutes, actor=None):
        return ActivityFactory(lead=lead, kind=kind, data=data, actor=actor,
                               occurred_at=now - timedelta(minutes=minutes))

    add("lead_updated", {"changes": {"job_title": {"old": "Engineer", "new": "CTO"}}}, 1, rep)
    add("stage_changed", {"from": "mql", "to": "lead", "reason": "No budget", "by": "sam"}, 2,
        rep)
    add("owner_changed", {"from": rep.pk, "to": other.pk, "to_name": "Rita Ramos"}, 3, rep)
    add("page_viewed", {"url": "https://www.example.com/pricing"}, 4)
    add("form_submitted", {"form_name": "Request a demo", "fields": {"team": "10-50"}}, 5)
    add("email_sent", {"subject": "Welcome aboard"}, 6)
    add("trial_started", {"plan": "Enterprise", "seats": 25, "meta": {"a": 1}}, 7)

    entries = {e.activity.kind: e for e in as_rep.get(url(lead)).context["entries"]}
    assert entries["lead_updated"].changes == [("Job title", "Engineer", "CTO")]
    assert entries["lead_updated"].by == "Sam Seller"
    stage = entries["stage_changed"]
    assert (stage.from_label, stage.to_label, stage.reason) == ("MQL", "Lead", "No budget")
    owner = entries["owner_changed"]
    assert (owner.from_label, owner.to_label) == ("Sam Seller", "Rita Ramos")
    page = entries["page_viewed"]
    assert page.link_href == page.link_text == "https://www.example.com/pricing"
    assert entries["form_submitted"].summary == "Form: Request a demo"
    assert entries["form_submitted"].pairs == [("team", "10-50")]
    assert entries["email_sent"].summary == "Subject: Welcome aboard"
    custom = entries["trial_started"]
    assert custom.title == "Trial started"
    assert custom.pairs == [("Meta", '{"a": 1}'), ("Plan", "Enterprise"), ("Seats", "25")]

    html = as_rep.get(url(lead)).content.decode()
    assert "<code class=\"small\">trial_started</code>" in html
    assert "<del class=\"text-body-secondary\">Engineer</del>" in html
    assert "No budget" in html and "Request a demo" in html and "Welcome aboard" in html


def test_it_does_not_link_urls_that_could_run_code(as_rep):
    lead = LeadFactory(first_landing_url="javascript:alert(1)")
    ActivityFactory(lead=lead, kind="page_viewed", data={"url": "javascript:alert(2)"})
    html = as_rep.get(url(lead)).content.decode()
    assert 'href="javascript:' not in html
    assert "javascript:alert(2)" in html  # shown as text


def test_it_escapes_user_text_in_the_lead_and_its_timeline(as_rep):
    lead = LeadFactory(first_name=XSS, company=XSS, attributes={XSS: XSS})
    ActivityFactory(lead=lead, kind="page_viewed", data={"url": XSS, "title": XSS})
    ActivityFactory(lead=lead, kind="custom<b>evt</b>", data={XSS: XSS, "nested": {"x": XSS}})
    ActivityFactory(lead=lead, kind="stage_changed", data={"from": XSS, "to": "mql",
                                                           "reason": XSS})
    html = as_rep.get(url(lead)).content.decode()
    assert XSS not in html
    assert "<b>evt</b>" not in html
    assert XSS_ESCAPED in html
    assert "custom&lt;b&gt;evt&lt;/b&gt;" in html


def test_it_shows_the_stage_history(as_rep, rep):
    lead = LeadFactory(stage=Stage.SQL)
    StageTransitionFactory(lead=lead, from_stage="lead", to_stage="mql", by_system="scoring")
    StageTransitionFactory(lead=lead, from_stage="mql", to_stage="sql", by_user=rep,
                           by_system="", reason="Budget confirmed")
    html = as_rep.get(url(lead)).content.decode()
    history = html.split('data-testid="stage-history"')[1].split("</ul>")[0]
    assert "by scoring" in history
    assert "by Sam Seller" in history
    assert "Budget confirmed" in history
    assert history.index("Budget confirmed") < history.index("by scoring")  # newest first


def test_it_offers_edit_and_delete_by_permission(client, marketer, admin_user):
    lead = LeadFactory()
    edit = reverse("pipeline:lead_update", args=[lead.pk])
    delete = reverse("pipeline:lead_delete", args=[lead.pk])
    client.force_login(marketer)
    html = client.get(url(lead)).content.decode()
    assert edit in html and delete not in html
    client.force_login(admin_user)
    html = client.get(url(lead)).content.decode()
    assert edit in html and delete in html


def test_it_answers_404_for_an_unknown_lead(as_rep):
    assert as_rep.get(reverse("pipeline:lead_detail", args=[424242])).status_code == 404
    assert as_rep.get("/leads/99999999999999999999999/").status_code == 404


def test_it_forbids_users_without_a_role_and_redirects_anonymous_ones(client, outsider):
    lead = LeadFactory()
    assert client.get(url(lead)).status_code == 302
    client.force_login(outsider)
    assert client.get(url(lead)).status_code == 403
