"""/dashboard/: the funnel dashboard's figures on a small dataset built by hand (every
number below is worked out in the comments), its filters and period, CSV exports, who
may read it, and a query count that does not grow with the number of leads."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from capture.models import Stage
from pipeline.selectors.funnel import Period, funnel_dashboard, funnel_scope
from pipeline.services import lead_assign_owner, lead_change_stage
from tests.factories import FormFactory, LeadFactory, SubmissionFactory

URL = reverse("pipeline:dashboard")
NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)  # a Thursday; "last 30 days" = Feb 19 – Mar 20


def noon(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 12, 0, tzinfo=UTC)


def move(lead, to: str, at: datetime, reason: str = "") -> None:
    with time_machine.travel(at, tick=False):
        lead_change_stage(lead=lead, to_stage=to, by_system="test", reason=reason)


def lead(name: str, created: datetime, source: str, **fields):
    return LeadFactory(first_name=name, created_at=created, source=source, **fields)


@pytest.fixture
def funnel(db, rep):
    """Six leads created in the period (A–F) and three before it (G–I):

    A google  Mar 1 → MQL Mar 3 → SQL Mar 7 → opportunity Mar 10 → customer Mar 17
    B google  Mar 2 → MQL Mar 4 → SQL Mar 10 (owned by the rep)
    C linkedin Mar 3 → MQL Mar 9 → rejected back to Lead Mar 11 ("Not ready: call in Q3")
    D linkedin Mar 4 → disqualified Mar 5 ("Student: class project")
    E linkedin Mar 5, no moves
    F google  Mar 6 → SQL Mar 8 (skipped MQL)
    G newsletter Jan 10 → MQL Jan 20 → SQL Feb 25 → customer Mar 15
    H google  Jan 5 → MQL Feb 20 → disqualified Mar 1 ("Student: thesis")
    I google  Jan 1 → MQL Jan 2
    """
    leads = {
        "A": lead("A", noon(3, 1), "google"),
        "B": lead("B", noon(3, 2), "google"),
        "C": lead("C", noon(3, 3), "linkedin"),
        "D": lead("D", noon(3, 4), "linkedin"),
        "E": lead("E", noon(3, 5), "linkedin"),
        "F": lead("F", noon(3, 6), "google"),
        "G": lead("G", noon(1, 10), "newsletter"),
        "H": lead("H", noon(1, 5), "google"),
        "I": lead("I", noon(1, 1), "google"),
    }
    a, b, c, d, _, f, g, h, i = leads.values()
    for stage, day in ((Stage.MQL, 3), (Stage.SQL, 7), (Stage.OPPORTUNITY, 10),
                       (Stage.CUSTOMER, 17)):
        move(a, stage, noon(3, day))
    move(b, Stage.MQL, noon(3, 4))
    move(b, Stage.SQL, noon(3, 10))
    move(c, Stage.MQL, noon(3, 9))
    move(c, Stage.LEAD, noon(3, 11), "Not ready: call in Q3")
    move(d, Stage.DISQUALIFIED, noon(3, 5), "Student: class project")
    move(f, Stage.SQL, noon(3, 8))
    move(g, Stage.MQL, noon(1, 20))
    move(g, Stage.SQL, noon(2, 25))
    move(g, Stage.CUSTOMER, noon(3, 15))
    move(h, Stage.MQL, noon(2, 20))
    move(h, Stage.DISQUALIFIED, noon(3, 1), "Student: thesis")
    move(i, Stage.MQL, noon(1, 2))
    lead_assign_owner(lead=b, owner=rep)
    webinar, ebook = FormFactory(name="Webinar"), FormFactory(name="E-book")
    with time_machine.travel(noon(3, 1), tick=False):
        SubmissionFactory(form=webinar, lead=a)
        SubmissionFactory(form=webinar, lead=None, is_spam=True)
    with time_machine.travel(noon(3, 5), tick=False):
        SubmissionFactory(form=ebook, lead=leads["E"])
    with time_machine.travel(noon(1, 1), tick=False):
        SubmissionFactory(form=ebook, lead=i)
    leads["forms"] = {"webinar": webinar, "ebook": ebook}
    return leads


@pytest.fixture
def now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def get(client, user, **params):
    client.force_login(user)
    return client.get(URL, params)


def funnel_row(response, stage: str):
    return next(row for row in response.context["d"].funnel if row.stage == stage)


def velocity(response) -> dict[str, tuple[float | None, int]]:
    return {v.step: (v.median_days, v.leads) for v in response.context["d"].velocity}


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


# --- Figures --------------------------------------------------------------------------------


def test_it_counts_the_periods_new_leads_and_how_far_they_got(client, marketer, funnel, now):
    response = get(client, marketer)
    assert response.status_code == 200
    d = response.context["d"]
    assert d.period == Period(date(2025, 2, 19), date(2025, 3, 20), "30d")
    # Cohort A–F: MQL A B C F (F skipped it), SQL A B F, opportunity A, customer A.
    assert d.cohort.leads == 6
    assert d.cohort.reached == {"mql": 4, "sql": 3, "opportunity": 1, "customer": 1}
    assert [(r.stage, r.reached) for r in d.funnel] == [
        ("new", 6), ("mql", 4), ("sql", 3), ("opportunity", 1), ("customer", 1)]


def test_it_counts_the_moves_into_each_stage_in_the_period(client, marketer, funnel, now):
    d = get(client, marketer).context["d"]
    # Into MQL: A B C H (G's and I's were in January); SQL: A B F G; customer: A G.
    assert d.flow == {"mql": 4, "sql": 4, "opportunity": 1, "customer": 2,
                      "disqualified": 2, "rejected": 1}
    assert [r.moves for r in d.funnel] == [None, 4, 4, 1, 2]


def test_it_works_out_conversion_between_stages(client, marketer, funnel, now):
    response = get(client, marketer)
    assert [r.conversion for r in response.context["d"].funnel] == [None, 4 / 6, 3 / 4, 1 / 3, 1]
    assert response.context["d"].totals["lead_to_customer"] == 1 / 6
    html = response.content.decode()
    assert "66.7 %" in html and "75.0 %" in html and "33.3 %" in html


def test_it_takes_the_median_days_between_stages(client, marketer, funnel, now):
    medians = velocity(get(client, marketer))
    # Lead → MQL for first MQLs in the period: A 2, B 2, C 6, H 46 → 4.
    # MQL → SQL: A 4, B 6, G 36 (F skipped MQL) → 6. SQL → customer: A 10, G 18 → 14.
    assert medians == {"lead_to_mql": (pytest.approx(4.0), 4),
                       "mql_to_sql": (pytest.approx(6.0), 3),
                       "sql_to_customer": (pytest.approx(14.0), 2)}


def test_a_lead_that_became_an_mql_before_the_period_is_not_timed_again(
        client, marketer, funnel, now):
    # I first became an MQL on Jan 2; rejected and back again in the period, it is not a
    # first arrival.
    move(funnel["I"], Stage.LEAD, noon(3, 1), "Not ready")
    move(funnel["I"], Stage.MQL, noon(3, 12))
    assert velocity(get(client, marketer))["lead_to_mql"] == (pytest.approx(4.0), 4)


def test_it_lists_rejections_and_disqualifications_by_reason(client, marketer, funnel, now):
    response = get(client, marketer)
    d = response.context["d"]
    assert [(r.label, r.count) for r in d.rejected] == [("Not ready", 1)]
    # "Student: class project" and "Student: thesis" are one reason picked from the list.
    assert [(r.label, r.count) for r in d.disqualified] == [("Student", 2)]
    assert response.content.decode().count("Student") == 1


def test_it_counts_leads_and_conversion_to_sql_per_source(client, marketer, funnel, now):
    sources = get(client, marketer).context["d"].cohort.sources
    assert [(s.source, s.leads, s.reached["mql"], s.reached["sql"], s.sql_rate)
            for s in sources] == [("google", 3, 3, 3, 1.0), ("linkedin", 3, 1, 0, 0.0)]


def test_it_counts_each_week_with_empty_weeks_as_zeros(client, marketer, funnel, now):
    response = get(client, marketer)
    weekly = [(w.week, w.leads, w.mqls, w.sqls) for w in response.context["d"].weekly]
    assert weekly == [
        (date(2025, 2, 17), 0, 1, 0),  # H's MQL on Feb 20
        (date(2025, 2, 24), 2, 0, 1),  # A and B created; G's SQL
        (date(2025, 3, 3), 4, 3, 2),  # C–F created; A B C into MQL; A F into SQL
        (date(2025, 3, 10), 0, 0, 1),  # B into SQL
        (date(2025, 3, 17), 0, 0, 0),
    ]
    assert response.context["chart"]["labels"] == ["Feb 17", "Feb 24", "Mar 3", "Mar 10",
                                                    "Mar 17"]
    assert 'id="trend-data"' in response.content.decode()


def test_it_counts_form_submissions_but_not_spam(client, marketer, funnel, now):
    assert get(client, marketer).context["d"].submissions == 2


def test_it_shows_zeros_and_dashes_on_an_empty_database(client, marketer, now):
    response = get(client, marketer)
    assert response.status_code == 200
    d = response.context["d"]
    assert d.cohort.leads == 0 and d.flow["mql"] == 0
    assert all(v.median_days is None and v.leads == 0 for v in d.velocity)
    assert "No leads were created in this period." in response.content.decode()


def test_the_selectors_agree_with_the_page(marketer, funnel, now):
    scope = funnel_scope(user=marketer, source="google")
    d = funnel_dashboard(scope, Period.named("30d"))
    assert d.cohort.leads == 3 and d.flow["mql"] == 3  # A, B and H


# --- Filters and period --------------------------------------------------------------------


def test_it_filters_by_source(client, marketer, funnel, now):
    d = get(client, marketer, source="linkedin").context["d"]
    assert d.cohort.leads == 3
    assert d.cohort.reached["mql"] == 1
    assert d.flow["mql"] == 1 and d.flow["rejected"] == 1 and d.flow["disqualified"] == 1


def test_it_filters_by_form(client, marketer, funnel, now):
    form = funnel["forms"]["webinar"]
    response = get(client, marketer, form=form.pk)
    d = response.context["d"]
    assert d.cohort.leads == 1 and d.cohort.reached["customer"] == 1  # A
    assert d.submissions == 1
    assert f'<option value="{form.pk}" selected>' in response.content.decode()


def test_it_filters_by_owner_and_unassigned(client, marketer, rep, funnel, now):
    mine = get(client, marketer, owner=rep.pk).context["d"]
    assert mine.cohort.leads == 1 and mine.flow["sql"] == 1  # B
    unassigned = get(client, marketer, owner="none").context["d"]
    assert unassigned.cohort.leads == 5


def test_a_custom_period_counts_whole_days(client, marketer, funnel, now):
    response = get(client, marketer, period="custom", start="2025-01-01", end="2025-01-31")
    d = response.context["d"]
    assert d.period == Period(date(2025, 1, 1), date(2025, 1, 31))
    # G, H and I were created in January; all became MQLs (some later), G a customer.
    assert d.cohort.leads == 3
    assert d.cohort.reached == {"mql": 3, "sql": 1, "opportunity": 1, "customer": 1}
    assert d.flow["mql"] == 2  # G on Jan 20, I on Jan 2
    assert 'value="2025-01-31"' in response.content.decode()


def test_start_and_end_alone_mean_a_custom_period(client, marketer, funnel, now):
    d = get(client, marketer, start="2025-01-01", end="2025-01-01").context["d"]
    assert d.period.key == "custom" and d.cohort.leads == 1  # I


def test_this_quarter_runs_from_its_first_day_to_today(client, marketer, funnel, now):
    d = get(client, marketer, period="quarter").context["d"]
    assert d.period == Period(date(2025, 1, 1), date(2025, 3, 20), "quarter")
    assert d.cohort.leads == 9


def test_the_last_7_days_end_today(client, marketer, funnel, now):
    d = get(client, marketer, period="7d").context["d"]
    assert d.period == Period(date(2025, 3, 14), date(2025, 3, 20), "7d")
    assert d.flow["customer"] == 2 and d.cohort.leads == 0


def test_the_period_follows_the_site_time_zone(client, marketer, settings, now):
    settings.TIME_ZONE = "America/New_York"
    # 02:00 UTC on Feb 19 is still Feb 18 in New York: before the 30 days.
    LeadFactory(created_at=datetime(2025, 2, 19, 2, 0, tzinfo=UTC))
    LeadFactory(created_at=datetime(2025, 2, 19, 6, 0, tzinfo=UTC))
    assert get(client, marketer).context["d"].cohort.leads == 1


@pytest.mark.parametrize(("params", "field"), [
    ({"period": "custom", "start": "2025-03-10", "end": "2025-03-01"}, "end"),
    ({"period": "custom"}, "start"),
    ({"period": "custom", "start": "not a date"}, "start"),
    ({"period": "custom", "start": "2010-01-01", "end": "2025-01-01"}, "start"),
    ({"period": "forever"}, "period"),
    ({"owner": "²"}, "owner"),
    ({"form": "x"}, "form"),
])
def test_a_bad_filter_is_a_400_naming_it_and_the_rest_still_shows(
        client, marketer, funnel, now, params, field):
    response = get(client, marketer, **params)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert response.context["d"].period.key == "30d"
    assert 'data-testid="dashboard-errors"' in response.content.decode()


def test_a_bad_filter_leaves_the_good_ones_applied(client, marketer, funnel, now):
    response = get(client, marketer, source="linkedin", owner="nobody")
    assert response.status_code == 400
    assert response.context["d"].cohort.leads == 3


# --- CSV -------------------------------------------------------------------------------------


def test_each_table_downloads_as_csv(client, marketer, funnel, now):
    client.force_login(marketer)
    funnel_csv = client.get(URL, {"export": "funnel"})
    assert funnel_csv.status_code == 200
    assert 'filename="funnel-funnel-20250219-20250320.csv"' in funnel_csv["Content-Disposition"]
    assert [(r["stage"], r["reached"], r["moves_in_period"]) for r in csv_rows(funnel_csv)] == [
        ("new", "6", ""), ("mql", "4", "4"), ("sql", "3", "4"), ("opportunity", "1", "1"),
        ("customer", "1", "2")]
    assert csv_rows(funnel_csv)[2]["conversion_from_previous"] == "0.7500"

    rows = csv_rows(client.get(URL, {"export": "velocity"}))
    assert [(r["step"], r["median_days"], r["leads"]) for r in rows] == [
        ("lead_to_mql", "4.00", "4"), ("mql_to_sql", "6.00", "3"),
        ("sql_to_customer", "14.00", "2")]

    rows = csv_rows(client.get(URL, {"export": "reasons"}))
    assert [(r["kind"], r["reason"], r["count"], r["total_of_kind"]) for r in rows] == [
        ("rejected", "Not ready", "1", "1"), ("disqualified", "Student", "2", "2")]

    rows = csv_rows(client.get(URL, {"export": "sources"}))
    assert [(r["source"], r["leads"], r["reached_sql"], r["sql_rate"]) for r in rows] == [
        ("google", "3", "3", "1.0000"), ("linkedin", "3", "0", "0.0000")]

    rows = csv_rows(client.get(URL, {"export": "weekly"}))
    assert [r["week_starting"] for r in rows][:2] == ["2025-02-17", "2025-02-24"]
    assert rows[2] == {"week_starting": "2025-03-03", "new_leads": "4", "mqls": "3",
                       "sqls": "2"}


def test_the_csv_keeps_the_filters(client, marketer, funnel, now):
    client.force_login(marketer)
    rows = csv_rows(client.get(URL, {"source": "linkedin", "export": "funnel"}))
    assert rows[0]["reached"] == "3"
    page = client.get(URL, {"source": "linkedin"}).content.decode()
    assert "?source=linkedin&amp;export=funnel" in page


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(client, marketer, now):
    LeadFactory(source="=HYPERLINK(\"http://x\")", created_at=NOW - timedelta(days=1))
    client.force_login(marketer)
    rows = csv_rows(client.get(URL, {"export": "sources"}))
    assert rows[0]["source"].startswith("'=")


def test_an_unknown_table_or_bad_filter_is_a_400_for_csv(client, marketer, now):
    client.force_login(marketer)
    assert client.get(URL, {"export": "secrets"}).status_code == 400
    response = client.get(URL, {"export": "funnel", "period": "custom"})
    assert response.status_code == 400 and b"start" in response.content


# --- Access and navigation -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["marketer", "rep", "admin_user"])
def test_marketers_reps_and_admins_may_read_it(db, client, request, role, now):
    # "db" named here, not only through getfixturevalue(): pytest-django orders tests by
    # the fixtures they declare, and would otherwise run this after the browser tests.
    assert get(client, request.getfixturevalue(role)).status_code == 200


def test_a_user_without_a_role_gets_a_403(client, outsider):
    assert get(client, outsider).status_code == 403
    assert client.get(URL, {"export": "funnel"}).status_code == 403


def test_signed_out_visitors_go_to_the_login_page(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_navigation_and_the_board_link_to_it(client, rep):
    client.force_login(rep)
    board = client.get(reverse("pipeline:board")).content.decode()
    assert board.count(f'href="{URL}"') == 2  # the navigation bar and the board's header
    page = client.get(URL).content.decode()
    assert f'<a class="nav-link active" href="{URL}"' in page


# --- Query count ------------------------------------------------------------------------------


def _leads_with_history(count: int, start: int) -> None:
    for n in range(start, start + count):
        made = LeadFactory(source=f"source-{n % 3}", created_at=NOW - timedelta(days=n % 20 + 2))
        move(made, Stage.MQL, NOW - timedelta(days=n % 20 + 1))
        if n % 2:
            move(made, Stage.SQL, NOW - timedelta(hours=n % 20 + 1))
        if n % 5 == 0:
            move(made, Stage.DISQUALIFIED, NOW - timedelta(minutes=n + 1), f"Reason {n % 4}")
        SubmissionFactory(lead=made)


@pytest.mark.parametrize("params", [{}, {"source": "source-1", "owner": "none"}])
def test_the_query_count_does_not_grow_with_the_number_of_leads(client, marketer, params):
    client.force_login(marketer)
    _leads_with_history(5, 0)
    with time_machine.travel(NOW, tick=False):
        client.get(URL, params)  # warm the session and the cached source menu
        with CaptureQueriesContext(connection) as few:
            assert client.get(URL, params).status_code == 200
        _leads_with_history(45, 5)
        with CaptureQueriesContext(connection) as many:
            response = client.get(URL, params)
    assert response.context["d"].cohort.leads > 5
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert len(few) <= 20
