"""The lead filter, and saved segments (a named, saved filter of the leads list).

capture owns the filter because everyone needs it and capture imports no other app:
pipeline's leads list, board and API build on ``LeadFilterSet``
(pipeline.selectors.LeadFilter), and nurture's "comes to match a segment" triggers and
"add all leads matching these filters" read a segment through ``segment_leads``. So a
filter means the same thing wherever it is applied.

The filter needs no request: "owner=me" is whoever is passed as ``me`` (pipeline passes
the requesting user). A segment never stores "me": it is resolved to that user's id when
the segment is saved, because triggers evaluate segments without a request.
"""

import copy
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from capture.models import Grade, Lead, Segment, Stage

NO_GRADE = "none"
OWNER_ME = "me"
OWNER_NONE = "none"
# Who may create, rename and delete segments: marketers and admins (segments are
# marketing's lists, and nurture's triggers watch them). Everyone who reads leads may
# open them.
MANAGE_SEGMENTS = "leadhub.manage_nurture"
SEGMENTS_PER_PAGE = 20
MAX_SEGMENT_NAME = 100


def lead_search(queryset: QuerySet[Lead], text: str) -> QuerySet[Lead]:
    """Every word must appear in the name, email or company ("ann acme" finds Ann at
    Acme). Served by trigram indexes on Postgres (capture migration 0002)."""
    for word in text.split()[:8]:
        queryset = queryset.filter(
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(email__icontains=word)
            | Q(company__icontains=word)
        )
    return queryset


class UTCDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, converted to UTC: Python accepts offsets up to ±23:59, and
    Postgres refuses any past ±15:59 with an error instead of comparing."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class _Filters(OrderedDict):
    """A FilterSet class's filters, copied for each filter set the cheap way.

    django-filter deep-copies every filter for every filter set (about 500 copy calls
    per filter set here, the largest single cost of a board API request). A filter's
    state is its constructor's arguments, which nothing changes afterwards, plus the
    parent filter set and the bound ``method``: a shallow copy with the method bound
    again to the copy gives each filter set filters of its own."""

    def __deepcopy__(self, memo):
        copies = OrderedDict()
        for name, filter_ in self.items():
            copied = copy.copy(filter_)
            if getattr(copied, "_method", None) is not None:
                copied.method = copied._method  # a FilterMethod bound to the copy
            copies[name] = copied
        return copies


class LeadFilterSet(django_filters.FilterSet):
    """The leads list's filters. ``me``: the user "owner=me" means (none: it matches no
    lead)."""

    q = django_filters.CharFilter(method="filter_q", label="Search", max_length=200)
    # distinct=False: django-filter adds SELECT DISTINCT to multiple-choice filters by
    # default (for joins that can repeat rows; these columns are on the lead itself), and
    # DISTINCT over every column made Postgres sort all MQLs instead of reading 51 rows
    # from the (stage, score, id) index: 78 ms against 0.4 ms on 100,000 leads.
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)
    grade = django_filters.MultipleChoiceFilter(
        choices=[*Grade.choices, (NO_GRADE, "No grade")], method="filter_grade", distinct=False
    )
    owner = django_filters.CharFilter(
        method="filter_owner",
        label="Owner",
        help_text='A user id, "me" or "none" (unassigned).',
        max_length=20,
    )
    source = django_filters.CharFilter(field_name="source", max_length=200)
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Lead
        fields = ["q", "stage", "grade", "owner", "source", "created_after", "created_before"]

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None, me=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.me = me

    @classmethod
    def get_filters(cls):
        return _Filters(super().get_filters())

    def get_form_class(self):
        """django-filter builds a new form class, and a form field per filter, for every
        filter set; these filters' fields depend on nothing per request (no querysets
        or choices from the request), so each FilterSet class builds its form class
        once. Each form still gets its own copies of the fields (Django's forms copy
        base_fields per instance)."""
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._form_class = form_class
        return form_class

    def owner_me(self):
        """The user "owner=me" stands for."""
        return self.me

    def filter_q(self, queryset, name, value):
        return lead_search(queryset, value)

    def filter_grade(self, queryset, name, values):
        if not values:
            return queryset
        grades = [g for g in values if g != NO_GRADE]
        if NO_GRADE in values:
            grades.append("")
        return queryset.filter(grade__in=grades)

    def filter_owner(self, queryset, name, value):
        value = value.strip().lower()
        if value == OWNER_ME:
            user = self.owner_me()
            if user is None or not user.is_authenticated:
                return queryset.none()
            return queryset.filter(owner=user)
        if value in (OWNER_NONE, "unassigned"):
            return queryset.filter(owner__isnull=True)
        # isascii() too: "²".isdigit() is True, and int("²") raises. An id past 64 bits
        # matches no one, and the database would refuse it rather than say so.
        if value.isascii() and value.isdigit() and int(value) < 2**63:
            return queryset.filter(owner_id=int(value))
        return queryset.none()


FILTER_PARAMS: tuple[str, ...] = tuple(LeadFilterSet.base_filters)
MULTI_PARAMS = frozenset({"stage", "grade"})
FILTER_LABELS = {name: str(f.label or name.replace("_", " ").capitalize())
                 for name, f in LeadFilterSet.base_filters.items()}
FILTER_LABELS.update({"created_after": "Created from", "created_before": "Created before"})


def lead_filter_params(data: Mapping | None) -> dict[str, Any]:
    """The lead filters in ``data`` (a QueryDict, or a dict such as a segment's params),
    in one canonical shape: only filter names, values trimmed, empty ones left out,
    stage and grade as sorted lists without repeats. Two filters with the same shape
    select the same leads."""
    params: dict[str, Any] = {}
    if not data:
        return params
    for name in FILTER_PARAMS:
        if name in MULTI_PARAMS:
            if hasattr(data, "getlist"):
                raw = data.getlist(name)
            else:
                raw = data.get(name)
                raw = raw if isinstance(raw, list | tuple) else [] if raw is None else [raw]
            values = sorted({str(v).strip() for v in raw if str(v).strip()})
            if values:
                params[name] = values
        else:
            value = data.get(name)
            if isinstance(value, list | tuple):
                value = value[-1] if value else None  # as a QueryDict's get() reads it
            if value is not None and str(value).strip():
                params[name] = str(value).strip()
    return params


def filter_problems(filterset: LeadFilterSet) -> list[str]:
    """The filter's errors in words, each named by its filter ("Created from: …")."""
    return [f"{FILTER_LABELS.get(name, name)}: {message}"
            for name, errors in filterset.errors.items() for message in errors]


def segment_params_problems(params: Any) -> list[str]:
    """What is wrong with a segment's stored params (empty: nothing). They must be in
    ``lead_filter_params``' shape and be filters the leads list accepts."""
    if not isinstance(params, dict):
        return ["The filters must be an object."]
    unknown = sorted(set(params) - set(FILTER_PARAMS))
    if unknown:
        return [f"Unknown filter: {', '.join(unknown)}."]
    for name, value in params.items():
        ok = (isinstance(value, list) and value and all(isinstance(v, str) for v in value)
              if name in MULTI_PARAMS else isinstance(value, str) and value.strip() != "")
        if not ok:
            return [f"{FILTER_LABELS[name]}: not a value the filter takes."]
    if str(params.get("owner", "")).strip().lower() == OWNER_ME:
        return ["Owner: “me” must be saved as the user it means."]
    filterset = LeadFilterSet(params, queryset=Lead.objects.none())
    return filter_problems(filterset)


def segment_params_clean(data: Mapping | None, *, user) -> dict[str, Any]:
    """The filters of ``data`` as a segment stores them: canonical (lead_filter_params),
    checked, and with "owner=me" made ``user``'s id (triggers evaluate a segment without
    a request, so "me" would mean no one). Raises ValidationError on ``params``."""
    params = lead_filter_params(data)
    owner = params.get("owner", "").lower()
    if owner == OWNER_ME:
        if user is None or not getattr(user, "pk", None):
            raise ValidationError({"params": ["“Owner: me” needs a signed-in user."]})
        params["owner"] = str(user.pk)
    elif owner == "unassigned":
        params["owner"] = OWNER_NONE
    if not params:
        raise ValidationError({"params": [
            "Choose at least one filter first: a segment of every lead is the whole list."]})
    if problems := segment_params_problems(params):
        raise ValidationError({"params": problems})
    return params


def segment_filter(params: Mapping, *, queryset: QuerySet[Lead] | None = None,
                   me=None) -> QuerySet[Lead]:
    """The leads of ``queryset`` (default: all) that ``params`` select. Params that do
    not validate select nobody: a filter left out would widen the set, and a trigger
    would enroll leads nobody chose."""
    queryset = Lead.objects.all() if queryset is None else queryset
    filterset = LeadFilterSet(dict(params), queryset=queryset, me=me)
    if not filterset.is_valid():
        return queryset.none()
    return filterset.qs


def segment_leads(segment: Segment, *, queryset: QuerySet[Lead] | None = None
                  ) -> QuerySet[Lead]:
    """The leads that match ``segment`` now (no request needed: see the module text)."""
    return segment_filter(segment.params or {}, queryset=queryset)


def segment_find(raw: Any) -> Segment | None:
    """The segment an id from a query string or form names, or None."""
    raw = str(raw or "").strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) >= 2**63:
        return None
    return Segment.objects.filter(pk=int(raw)).first()


def segments_page(number: Any) -> Page:
    """One page of segments, by name, for the leads list's segments menu."""
    paginator = Paginator(Segment.objects.order_by(Lower("name"), "id"), SEGMENTS_PER_PAGE)
    return paginator.get_page(number)


def segment_describe(params: Mapping) -> str:
    """A segment's filters in words, e.g. "Stage: mql, sql · Owner: 3"."""
    parts = []
    for name, value in lead_filter_params(params).items():
        shown = ", ".join(value) if isinstance(value, list) else value
        parts.append(f"{FILTER_LABELS.get(name, name)}: {shown}")
    return " · ".join(parts)
