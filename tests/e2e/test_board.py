"""The pipeline board in a real Chromium: a rep drags a card from MQL to SQL and, after a
reload, it is in SQL with a transition on its timeline; a rep disqualifies a lead with a
reason from the keyboard; a refused move snaps back; filters survive a reload."""

import pytest
from playwright.sync_api import expect

from capture.models import Lead, Stage
from pipeline.models import StageReason, StageTransition
from tests.e2e.browser import log_in
from tests.factories import LeadFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def column(page, stage: str):
    return page.get_by_test_id(f"column-{stage}").get_by_test_id("column-list")


def card(page, lead):
    return page.locator(f".board-card[data-lead='{lead.pk}']")


def test_a_rep_drags_a_card_from_mql_to_sql(page, rep):
    ann = LeadFactory(stage=Stage.MQL, first_name="Ann", last_name="Novak", score=80)
    LeadFactory(stage=Stage.SQL, first_name="Sid", score=10)
    log_in(page, rep)
    page.goto("/board/")
    expect(card(page, ann)).to_be_visible()
    card(page, ann).drag_to(column(page, "sql"))
    expect(column(page, "sql").locator(f".board-card[data-lead='{ann.pk}']")).to_be_visible()
    expect(page.get_by_test_id("board-status")).to_contain_text("Moved")
    expect(page.get_by_test_id("column-sql").get_by_test_id("column-count")).to_have_text("2")
    expect(page.get_by_test_id("column-mql").get_by_test_id("column-count")).to_have_text("0")

    page.reload()
    expect(column(page, "sql").locator(f".board-card[data-lead='{ann.pk}']")).to_be_visible()
    assert Lead.objects.get(pk=ann.pk).stage == Stage.SQL
    assert StageTransition.objects.filter(lead=ann, from_stage="mql", to_stage="sql").exists()
    page.goto(f"/leads/{ann.pk}/")
    expect(page.get_by_test_id("timeline")).to_contain_text("Stage changed")


def test_a_refused_move_snaps_back_with_the_reason(page, rep):
    won = LeadFactory(stage=Stage.CUSTOMER, first_name="Cora")
    log_in(page, rep)
    page.goto("/board/")
    card(page, won).drag_to(column(page, "mql"))
    expect(page.get_by_test_id("board-status")).to_contain_text(
        "cannot move from Customer to MQL")
    expect(column(page, "customer").locator(f".board-card[data-lead='{won.pk}']")).to_be_visible()
    assert Lead.objects.get(pk=won.pk).stage == Stage.CUSTOMER


def test_a_rep_disqualifies_a_lead_with_a_reason_from_the_keyboard(page, rep):
    StageReason.objects.create(kind="disqualify", label="Student")
    dan = LeadFactory(stage=Stage.MQL, first_name="Dan")
    log_in(page, rep)
    page.goto("/board/")
    card(page, dan).focus()
    page.keyboard.press("m")
    dialog = page.get_by_test_id("move-dialog")
    expect(dialog).to_be_visible()
    # Only the keyboard from here: type-ahead in the focused stage list, Tab, Enter.
    expect(dialog.get_by_label("To stage")).to_be_focused()
    page.keyboard.type("Disq")
    expect(dialog.get_by_label("To stage")).to_have_value("disqualified")
    # A reason is asked for; submitting without one is refused in the dialog.
    page.keyboard.press("Tab")  # → Reason (shown now)
    page.keyboard.press("Tab")  # → Details
    page.keyboard.press("Tab")  # → Cancel
    page.keyboard.press("Tab")  # → Move
    page.keyboard.press("Enter")
    expect(dialog).to_contain_text("Give a reason")
    expect(dialog.get_by_label("Reason", exact=True)).to_be_focused()
    page.keyboard.type("Student")
    expect(dialog.get_by_label("Reason", exact=True)).to_have_value("Student")
    page.keyboard.press("Tab")
    page.keyboard.type("Signed up for a class project")
    page.keyboard.press("Tab")  # Details → Cancel
    page.keyboard.press("Tab")  # Cancel → Move
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("board-status")).to_contain_text("Moved")
    expect(page.get_by_test_id("column-disqualified").get_by_test_id("column-count")
           ).to_have_text("1")
    transition = StageTransition.objects.get(lead=dan)
    assert transition.to_stage == "disqualified"
    assert transition.reason == "Student: Signed up for a class project"


def test_filters_change_the_board_and_survive_a_reload(page, rep):
    mine = LeadFactory(stage=Stage.MQL, owner=rep, first_name="Mina")
    other = LeadFactory(stage=Stage.MQL, first_name="Otto")
    log_in(page, rep)
    page.goto("/board/")
    expect(card(page, other)).to_be_visible()
    page.get_by_label("Owner").select_option("me")
    page.get_by_role("button", name="Apply").click()
    expect(card(page, other)).to_have_count(0)
    expect(card(page, mine)).to_be_visible()
    assert "owner=me" in page.url
    page.reload()
    expect(card(page, other)).to_have_count(0)
    expect(page.get_by_label("Owner")).to_have_value("me")


def test_a_column_loads_more_cards_on_scroll(page, rep):
    for i in range(60):
        LeadFactory(stage=Stage.LEAD, score=i)
    log_in(page, rep)
    page.goto("/board/")
    cards = column(page, "lead").locator(".board-card")
    expect(cards).to_have_count(50)
    column(page, "lead").locator(".board-more").scroll_into_view_if_needed()
    expect(cards).to_have_count(60)
    expect(column(page, "lead").locator(".board-more")).to_have_count(0)
