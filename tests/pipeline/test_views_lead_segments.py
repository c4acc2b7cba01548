"""/leads/ and saved segments: "Save as segment" for the current filters, the segments
menu that opens one, rename and delete (marketers and admins; reps open them), and bad
input answered with errors beside the inputs, never a 500."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from capture.models import Segment
from tests.factories import LeadFactory, SegmentFactory, SequenceFactory, TriggerFactory

pytestmark = pytest.mark.django_db

URL = reverse("pipeline:lead_list")


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


def listed(response) -> list[str]:
    return sorted(lead.email for lead in response.context["page_obj"].object_list)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def save(client, name: str, query: str, **extra):
    return client.post(URL, {"_action": "segment_save", "name": name, "query": query, **extra})


def test_a_marketer_saves_the_current_filters_as_a_segment_and_it_opens(marketer_client,
                                                                        marketer):
    LeadFactory(email="mine@example.com", stage="mql", owner=marketer)
    LeadFactory(email="other@example.com", stage="mql")
    page = marketer_client.get(URL, {"stage": "mql", "owner": "me", "sort": "-score"})
    html = page.content.decode()
    assert 'data-testid="save-segment"' in html
    assert page.context["filters_query"] == "stage=mql&owner=me&sort=-score"

    response = save(marketer_client, "My MQLs", page.context["filters_query"])

    segment = Segment.objects.get()
    assert segment.params == {"stage": ["mql"], "owner": str(marketer.pk)}
    assert response.status_code == 302
    assert query_of(response["Location"]) == {
        "stage": ["mql"], "owner": [str(marketer.pk)], "sort": ["-score"],
        "segment": [str(segment.pk)]}
    opened = marketer_client.get(response["Location"])
    assert opened.context["segment"] == segment
    assert listed(opened) == ["mine@example.com"]
    html = opened.content.decode()
    assert 'data-testid="open-segment"' in html and "My MQLs" in html
    assert "Saved the segment “My MQLs”" in html


def test_the_segments_menu_opens_a_segment_with_its_filters(rep_client):
    LeadFactory(email="a@example.com", stage="sql", grade="A")
    LeadFactory(email="b@example.com", stage="sql", grade="C")
    segment = SegmentFactory(name="Fit SQLs", params={"stage": ["sql"], "grade": ["A", "B"]})
    menu = rep_client.get(URL).content.decode()
    assert f'href="{URL}?segment={segment.pk}"' in menu

    response = rep_client.get(URL, {"segment": segment.pk})

    assert response.status_code == 302
    assert query_of(response["Location"]) == {
        "stage": ["sql"], "grade": ["A", "B"], "segment": [str(segment.pk)]}
    opened = rep_client.get(response["Location"])
    assert listed(opened) == ["a@example.com"]
    assert opened.context["segment"] == segment
    # Paging and sorting keep it open; changing a filter leaves it.
    assert rep_client.get(response["Location"] + "&sort=-score").context["segment"] == segment
    changed = rep_client.get(URL, {"stage": "sql", "segment": segment.pk})
    assert changed.context["segment"] is None
    assert listed(changed) == ["a@example.com", "b@example.com"]


def test_reps_open_segments_but_do_not_save_rename_or_delete_them(rep_client):
    segment = SegmentFactory(name="Hot")
    html = rep_client.get(URL, {"stage": "mql", "segment": segment.pk}).content.decode()
    assert 'data-testid="segment-link"' in html
    for control in ("save-segment", "segment-rename", "segment-delete", "select-lead",
                    "lead-actions"):
        assert f'data-testid="{control}"' not in html, control
    for data in ({"_action": "segment_save", "name": "x", "query": "stage=mql"},
                 {"_action": "segment_rename", "segment": segment.pk, "name": "y"},
                 {"_action": "segment_delete", "segment": segment.pk}):
        assert rep_client.post(URL, data).status_code == 403
    segment.refresh_from_db()
    assert segment.name == "Hot" and Segment.objects.count() == 1


def test_signed_out_and_roleless_users_are_kept_out(client, outsider):
    data = {"_action": "segment_save", "name": "x", "query": "stage=mql"}
    response = client.post(URL, data)
    assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(outsider)
    assert client.post(URL, data).status_code == 403
    assert not Segment.objects.exists()


@pytest.mark.parametrize(("name", "query", "field", "text"), [
    ("", "stage=mql", "name", "Give the segment a name."),
    ("x" * 150, "stage=mql", "name", "At most 100"),
    ("Everything", "", "params", "at least one filter"),
    ("Everything", "sort=-score&page=2", "params", "at least one filter"),
    ("Bad date", "created_after=someday", "params", "Created from"),
    ("Bad stage", "stage=nope", "params", "Stage"),
])
def test_bad_input_is_a_form_error_beside_the_input(marketer_client, name, query, field,
                                                    text):
    LeadFactory(email="a@example.com", stage="mql")
    response = save(marketer_client, name, query)
    assert response.status_code == 400
    assert text in " ".join(response.context["segment_errors"][field])
    html = response.content.decode()
    testid = "segment-name-errors" if field == "name" else "segment-params-errors"
    assert testid in html
    assert 'data-testid="lead-table"' in html  # the list is still there
    assert not Segment.objects.exists()


def test_a_duplicate_name_is_refused_and_the_typed_name_kept(marketer_client):
    SegmentFactory(name="Hot leads")
    response = save(marketer_client, "hot LEADS", "stage=sql")
    assert response.status_code == 400
    assert "exists already" in response.content.decode()
    assert response.context["segment_name"] == "hot LEADS"
    assert Segment.objects.count() == 1


def test_rename_and_delete(marketer_client):
    segment = SegmentFactory(name="Hot", params={"stage": ["mql"]})
    SegmentFactory(name="Cold")
    opened = marketer_client.get(URL, {"stage": "mql", "segment": segment.pk})
    assert 'data-testid="segment-rename"' in opened.content.decode()

    bad = marketer_client.post(URL, {"_action": "segment_rename", "segment": segment.pk,
                                     "name": "cold", "query": "stage=mql"})
    assert bad.status_code == 400
    assert "exists already" in " ".join(bad.context["rename_errors"]["name"])
    assert bad.context["segment"].name == "Hot"

    good = marketer_client.post(URL, {"_action": "segment_rename", "segment": segment.pk,
                                      "name": "Warm", "query": "stage=mql"})
    assert good.status_code == 302
    segment.refresh_from_db()
    assert segment.name == "Warm"

    gone = marketer_client.post(URL, {"_action": "segment_delete", "segment": segment.pk,
                                      "query": "stage=mql"})
    assert gone.status_code == 302
    assert query_of(gone["Location"]) == {"stage": ["mql"]}  # the filters stay applied
    assert list(Segment.objects.values_list("name", flat=True)) == ["Cold"]
    # A deleted segment's link, or a form posted twice, is a message, not an error page.
    stale = marketer_client.get(URL, {"segment": segment.pk}, follow=True)
    assert stale.status_code == 200 and "no longer exists" in stale.content.decode()
    again = marketer_client.post(URL, {"_action": "segment_delete", "segment": segment.pk},
                                 follow=True)
    assert again.status_code == 200 and "no longer exists" in again.content.decode()


def test_a_watched_segment_is_not_deleted_and_the_list_says_why(marketer_client):
    segment = SegmentFactory(name="Watched")
    TriggerFactory(sequence=SequenceFactory(name="Drip"), type="segment", segment=segment)
    response = marketer_client.post(URL, {"_action": "segment_delete", "segment": segment.pk,
                                          "query": ""}, follow=True)
    assert response.status_code == 200
    assert "watched by 1 sequence trigger" in response.content.decode()
    assert Segment.objects.filter(pk=segment.pk).exists()


@pytest.mark.parametrize("data", [
    {"_action": "nope"},
    {},
    {"_action": "segment_rename", "segment": "abc", "name": "x"},
    {"_action": "segment_delete", "segment": "99999999999999999999999"},
    {"_action": "segment_save", "name": "x", "query": "stage=mql&" * 2000},
    {"_action": "segment_save", "name": "\x00", "query": "q=%00"},
])
def test_odd_posts_never_cause_a_500(marketer_client, data):
    assert marketer_client.post(URL, data).status_code in (302, 400)


@pytest.mark.parametrize("raw", ["abc", "-1", "99999999999999999999999", "", "²"])
def test_odd_segment_ids_in_the_query_string_are_ignored(rep_client, raw):
    response = rep_client.get(URL, {"segment": raw})
    assert response.status_code == 200
    assert response.context["segment"] is None


def test_the_segments_menu_is_paginated(rep_client):
    for n in range(23):
        SegmentFactory(name=f"Segment {n:02d}")
    first = rep_client.get(URL)
    assert [s.name for s in first.context["segments"].object_list][:2] == [
        "Segment 00", "Segment 01"]
    assert len(first.context["segments"].object_list) == 20
    second = rep_client.get(URL, {"segments_page": 2, "stage": "mql"})
    assert [s.name for s in second.context["segments"].object_list] == [
        "Segment 20", "Segment 21", "Segment 22"]
    html = second.content.decode()
    assert 'href="?segments_page=1&amp;stage=mql"' in html  # the filters stay
    assert rep_client.get(URL, {"segments_page": "x"}).status_code == 200
