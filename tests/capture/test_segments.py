"""capture.segments and capture.services.segments: the lead filter every app shares, and
saved segments (stored canonical, "owner=me" made a user's id, checked, named once)."""

import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict

from capture.models import Segment
from capture.segments import (
    LeadFilterSet,
    lead_filter_params,
    segment_describe,
    segment_leads,
    segment_params_clean,
)
from capture.services import segment_create, segment_delete, segment_rename
from pipeline.selectors import LeadFilter
from tests.factories import LeadFactory, SegmentFactory, SequenceFactory, TriggerFactory

pytestmark = pytest.mark.django_db


def emails(queryset) -> set[str]:
    return set(queryset.values_list("email", flat=True))


def test_filter_params_are_put_in_one_canonical_shape():
    query = QueryDict("stage=sql&stage=mql&stage=mql&q=+ann+&owner=&page=3&sort=-score&x=1")
    assert lead_filter_params(query) == {"stage": ["mql", "sql"], "q": "ann"}
    assert lead_filter_params({"grade": "A", "source": ["a", "b"]}) == {
        "grade": ["A"], "source": "b"}
    assert lead_filter_params(None) == {}


def test_it_saves_the_filters_with_owner_me_made_the_users_id(marketer):
    segment = segment_create(name="  My   MQLs ", created_by=marketer,
                             params=QueryDict("stage=mql&owner=me&sort=-score&page=2"))
    segment.refresh_from_db()
    assert segment.name == "My MQLs"
    assert segment.params == {"stage": ["mql"], "owner": str(marketer.pk)}
    assert segment.created_by == marketer
    assert segment_create(name="Nobody's", created_by=marketer,
                          params={"owner": "unassigned"}).params == {"owner": "none"}


def test_a_segment_selects_the_same_leads_as_the_leads_list(marketer, rep):
    LeadFactory(email="ann@acme.example", first_name="Ann", stage="mql", grade="A", owner=rep,
                source="ads")
    LeadFactory(email="bob@acme.example", stage="mql", grade="", owner=None, source="ads")
    LeadFactory(email="cy@other.example", stage="sql", grade="B", owner=rep, source="web")
    cases = [
        "stage=mql", "stage=mql&grade=none", "grade=A&grade=B", "q=acme", f"owner={rep.pk}",
        "owner=none", "source=ads&stage=sql", "created_after=2000-01-01", "q=ann+acme",
    ]
    for raw in cases:
        segment = segment_create(name=raw, params=QueryDict(raw), created_by=marketer)
        listed = LeadFilter(QueryDict(raw), queryset=segment_leads(segment).model.objects.all())
        assert emails(segment_leads(segment)) == emails(listed.qs), raw


def test_owner_me_in_a_segment_stays_its_creators_whoever_opens_it(marketer, rep):
    LeadFactory(email="mine@example.com", owner=marketer)
    LeadFactory(email="theirs@example.com", owner=rep)
    segment = segment_create(name="Mine", params={"owner": "me"}, created_by=marketer)
    assert emails(segment_leads(segment)) == {"mine@example.com"}
    # The list's "me" is whoever asks; the request-free core's is whoever is passed.
    core = LeadFilterSet({"owner": "me"}, queryset=segment_leads(segment).model.objects.all(),
                         me=rep)
    assert emails(core.qs) == {"theirs@example.com"}
    assert not LeadFilterSet({"owner": "me"},
                             queryset=segment_leads(segment).model.objects.all()).qs.exists()


@pytest.mark.parametrize(("params", "field", "text"), [
    ({}, "params", "at least one filter"),
    ({"sort": "-score", "page": "2"}, "params", "at least one filter"),
    ({"created_after": "yesterday"}, "params", "Created from"),
    ({"stage": ["mql", "nope"]}, "params", "Stage"),
    ({"q": "x" * 201}, "params", "Search"),
])
def test_filters_the_list_would_refuse_are_not_saved(marketer, params, field, text):
    with pytest.raises(ValidationError) as exc:
        segment_create(name="Bad", params=params, created_by=marketer)
    assert text in " ".join(exc.value.message_dict[field])
    assert not Segment.objects.exists()


def test_names_are_required_short_and_unique_ignoring_case(marketer):
    segment_create(name="Hot leads", params={"stage": ["mql"]}, created_by=marketer)
    for name, text in (("", "Give the segment a name."), ("   ", "Give the segment a name."),
                       ("x" * 101, "At most 100"), ("HOT LEADS", "exists already"),
                       ("Hot\x00", "control characters")):
        with pytest.raises(ValidationError) as exc:
            segment_create(name=name, params={"stage": ["sql"]}, created_by=marketer)
        assert text in " ".join(exc.value.message_dict["name"]), name
    with pytest.raises(ValidationError) as exc:  # both problems at once
        segment_create(name="", params={}, created_by=marketer)
    assert set(exc.value.message_dict) == {"name", "params"}
    assert Segment.objects.count() == 1


def test_rename_keeps_the_filters_and_checks_the_name():
    hot, cold = SegmentFactory(name="Hot"), SegmentFactory(name="Cold")
    segment_rename(segment=hot, name="Warm")
    hot.refresh_from_db()
    assert (hot.name, hot.params) == ("Warm", {"stage": ["mql"]})
    segment_rename(segment=hot, name="warm")  # its own name, in other case: fine
    with pytest.raises(ValidationError):
        segment_rename(segment=hot, name="COLD")
    assert cold.name == "Cold"


def test_a_segment_a_sequence_watches_cannot_be_deleted():
    watched, free = SegmentFactory(name="Watched"), SegmentFactory()
    TriggerFactory(sequence=SequenceFactory(), type="segment", segment=watched)
    with pytest.raises(ValidationError) as exc:
        segment_delete(segment=watched)
    assert "watched by 1 sequence trigger" in exc.value.messages[0]
    segment_delete(segment=free)
    assert list(Segment.objects.values_list("name", flat=True)) == ["Watched"]


def test_params_that_no_longer_validate_select_nobody_rather_than_everyone():
    LeadFactory.create_batch(2)
    broken = SegmentFactory(params={"created_after": "not a date"})
    assert not segment_leads(broken).exists()
    with pytest.raises(ValidationError):
        broken.full_clean()
    with pytest.raises(ValidationError):
        SegmentFactory.build(params={"owner": "me"}).full_clean()
    with pytest.raises(ValidationError):
        SegmentFactory.build(params={"colour": "red"}).full_clean()


def test_it_describes_a_segment_in_words():
    assert segment_describe({"stage": ["mql", "sql"], "q": "acme"}) == (
        "Search: acme · Stage: mql, sql")


def test_the_params_check_refuses_me_and_shapes_it_cannot_store(marketer):
    assert segment_params_clean({"owner": "ME"}, user=marketer) == {"owner": str(marketer.pk)}
    with pytest.raises(ValidationError):
        segment_params_clean({"owner": "me"}, user=None)
