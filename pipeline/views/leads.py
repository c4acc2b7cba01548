"""The leads pages (list, lead page, create, edit, delete).

Views stay thin: reads go through pipeline.selectors and Lead.objects.visible_to(),
writes through capture.services and pipeline.services. Every query count here is
independent of how many leads there are (the list pages with COUNT + LIMIT/OFFSET).
"""

import copy
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.text import capfirst
from django.views import View

from capture.models import Activity, ActivityKind, Grade, Lead, Segment, Stage
from capture.segments import MANAGE_SEGMENTS, lead_filter_params, segment_find, segments_page
from capture.services import (
    EDITABLE_FIELDS,
    lead_create,
    lead_delete,
    lead_update,
    segment_create,
    segment_delete,
    segment_rename,
)
from pipeline.forms import LeadContactForm, LeadForm
from pipeline.models import NoteKind
from pipeline.selectors import (
    DEFAULT_LEAD_ORDERING,
    LEAD_ORDERINGS,
    NO_GRADE,
    OWNER_ME,
    OWNER_NONE,
    PIPELINE_PERMISSION,
    LeadFilter,
    lead_list,
    lead_owners,
    lead_sources,
    lead_timeline,
    move_refusal,
    timeline_group_counts,
)
from pipeline.services import lead_assign_owner, lead_change_stage

LEADS_PER_PAGE = 50
ACTIVITIES_PER_PAGE = 25
FILTER_LABELS = {
    "q": "Search",
    "stage": "Stage",
    "grade": "Grade",
    "owner": "Owner",
    "source": "Source",
    "created_after": "Created from",
    "created_before": "Created before",
}
FILTER_PARAMS = tuple(LeadFilter.base_filters)


class LeadsAccess(LoginRequiredMixin, PermissionRequiredMixin):
    """Anonymous visitors go to the login page; signed-in users without the
    permissions get a 403 (PermissionRequiredMixin does that for authenticated users)."""

    permission_required: tuple[str, ...] = ("capture.view_lead",)

    def get_lead(self, pk: int) -> Lead:
        visible = Lead.objects.visible_to(self.request.user).select_related("owner")
        return get_object_or_404(visible, pk=pk)


# --- Leads list ----------------------------------------------------------------------------


SORTABLE_COLUMNS = (
    ("score", "Score"),
    ("last_activity_at", "Last activity"),
    ("created_at", "Created"),
)


def _sort_columns(current: str) -> dict[str, dict[str, str]]:
    """Per sortable column: the ?sort= its header links to and the current direction.
    A first click sorts descending (highest score, newest first); a second reverses."""
    columns = {}
    for name, label in SORTABLE_COLUMNS:
        if current == f"-{name}":
            direction, next_sort = "descending", name
        elif current == name:
            direction, next_sort = "ascending", f"-{name}"
        else:
            direction, next_sort = "", f"-{name}"
        columns[name] = {"label": label, "direction": direction, "next": next_sort}
    return columns


def _menu_summary(selected: list[str], choices, nothing: str) -> str:
    labels = [label for value, label in choices if value in selected]
    return ", ".join(labels) if labels else nothing


def _segment_url(segment: Segment, *, sort: str = "") -> str:
    """The leads list with the segment's filters, and the segment named as open."""
    query = QueryDict(mutable=True)
    for name, value in segment.params.items():
        query.setlist(name, value if isinstance(value, list) else [value])
    if sort and sort != DEFAULT_LEAD_ORDERING:
        query["sort"] = sort
    query["segment"] = str(segment.pk)
    return f"{reverse('pipeline:lead_list')}?{query.urlencode()}"


def _filters_query(params) -> str:
    """The list's filters (and sort) as a query string, carried by the list's forms."""
    query = QueryDict(mutable=True)
    for name, value in lead_filter_params(params).items():
        query.setlist(name, value if isinstance(value, list) else [value])
    if (sort := params.get("sort")) in LEAD_ORDERINGS and sort != DEFAULT_LEAD_ORDERING:
        query["sort"] = sort
    return query.urlencode()


class LeadListView(LeadsAccess, View):
    """The leads list. GET: the filters in the query string; ``?segment=<id>`` alone
    opens a saved segment (a redirect to its filters, so paging and sorting keep them);
    with filters, the segment is named as open while the filters are still its own.
    POST ``_action`` (marketers and admins): ``segment_save`` (``name``; the filters in
    ``query``), ``segment_rename`` and ``segment_delete`` (``segment``). Refused input
    draws the list again with the errors beside the inputs (400)."""

    def get(self, request):
        params = request.GET
        segment = None
        if "segment" in params:
            segment = segment_find(params.get("segment"))
            if segment is None:
                messages.warning(request, "That segment no longer exists.")
            elif not lead_filter_params(params):
                return redirect(_segment_url(segment, sort=params.get("sort", "")))
            elif lead_filter_params(params) != lead_filter_params(segment.params):
                segment = None  # the filters were changed since: no longer the segment
        return self.show(params, segment=segment)

    def post(self, request):
        if not request.user.has_perm(MANAGE_SEGMENTS):
            raise PermissionDenied("Saving and changing segments is for marketers and admins.")
        action = request.POST.get("_action", "")
        params = QueryDict(request.POST.get("query", "")[:4000])
        if action == "segment_save":
            name = request.POST.get("name", "")
            try:
                segment = segment_create(name=name, params=params, created_by=request.user)
            except ValidationError as exc:
                return self.show(params, segment_errors=exc.message_dict,
                                 segment_name=name[:200], status=400)
            messages.success(request, f"Saved the segment “{segment.name}”.")
            return redirect(_segment_url(segment, sort=params.get("sort", "")))
        if action not in ("segment_rename", "segment_delete"):
            return HttpResponseBadRequest("Unknown action.")
        segment = segment_find(request.POST.get("segment"))
        if segment is None:
            messages.warning(request, "That segment no longer exists.")
            return redirect(f"{reverse('pipeline:lead_list')}?{_filters_query(params)}")
        if action == "segment_rename":
            name = request.POST.get("name", "")
            try:
                segment_rename(segment=segment, name=name)
            except ValidationError as exc:
                segment.refresh_from_db()
                return self.show(params, segment=segment, rename_errors=exc.message_dict,
                                 rename_name=name[:200], status=400)
            messages.success(request, f"Renamed the segment to “{segment.name}”.")
            return redirect(_segment_url(segment, sort=params.get("sort", "")))
        try:
            segment_delete(segment=segment)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(_segment_url(segment, sort=params.get("sort", "")))
        messages.success(request, f"Deleted the segment “{segment.name}”; its filters are "
                                  "still applied below.")
        return redirect(f"{reverse('pipeline:lead_list')}?{_filters_query(params)}")

    def show(self, params, *, segment: Segment | None = None, segment_errors=None,
             segment_name: str = "", rename_errors=None, rename_name: str = "",
             status: int = 200):
        request = self.request
        sort = params.get("sort") or DEFAULT_LEAD_ORDERING
        if sort not in LEAD_ORDERINGS:
            messages.warning(request, "Unknown sort order; showing the newest leads first.")
            sort = DEFAULT_LEAD_ORDERING

        filterset = lead_list(user=request.user, params=params, request=request)
        # An invalid filter is left out of the query (django-filter drops it from
        # cleaned_data) and named in a warning, so a typo never hides every lead.
        filter_errors = [
            (FILTER_LABELS.get(name, capfirst(name)), message)
            for name, errors in filterset.errors.items()
            for message in errors
        ]
        leads = filterset.qs.order_by(*LEAD_ORDERINGS[sort])
        paginator = Paginator(leads, LEADS_PER_PAGE)
        page = paginator.get_page(params.get("page"))

        grade_choices = [*Grade.choices, (NO_GRADE, "No grade")]
        selected = {
            "q": params.get("q", ""),
            "stages": params.getlist("stage"),
            "grades": params.getlist("grade"),
            "owner": params.get("owner", ""),
            "source": params.get("source", ""),
            "created_after": params.get("created_after", ""),
            "created_before": params.get("created_before", ""),
        }
        sources = lead_sources()
        if selected["source"] and selected["source"] not in sources:
            sources.append(selected["source"])
        segments = segments_page(params.get("segments_page"))
        context = {
            "page_obj": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2),
            "sort": sort,
            "default_sort": DEFAULT_LEAD_ORDERING,
            "columns": _sort_columns(sort),
            "selected": selected,
            "filter_errors": filter_errors,
            "error_fields": dict.fromkeys(filterset.errors, True),
            "filters_active": any(params.get(name) for name in FILTER_PARAMS),
            "stage_choices": Stage.choices,
            "grade_choices": grade_choices,
            "stage_summary": _menu_summary(selected["stages"], Stage.choices, "Any stage"),
            "grade_summary": _menu_summary(selected["grades"], grade_choices, "Any grade"),
            "owner_me": OWNER_ME,
            "owner_none": OWNER_NONE,
            "owners": list(lead_owners()),
            "sources": sources,
            # The filters as a query string: what "Save as segment" saves and "all
            # leads matching these filters" enrolls.
            "filters_query": _filters_query(params),
            "segment": segment,
            "segments": segments,
            "can_manage_segments": request.user.has_perm(MANAGE_SEGMENTS),
            "segment_errors": segment_errors or {},
            "segment_name": segment_name,
            "rename_errors": rename_errors or {},
            "rename_name": rename_name or (segment.name if segment else ""),
        }
        return render(request, "pipeline/lead_list.html", context, status=status)


# --- Lead page and its timeline ------------------------------------------------------------


ACTIVITY_ICONS = {
    ActivityKind.LEAD_CREATED: "person-plus",
    ActivityKind.LEAD_UPDATED: "pencil",
    ActivityKind.FORM_SUBMITTED: "ui-checks",
    ActivityKind.PAGE_VIEWED: "eye",
    ActivityKind.EMAIL_SENT: "envelope",
    ActivityKind.EMAIL_OPENED: "envelope-open",
    ActivityKind.EMAIL_CLICKED: "cursor",
    ActivityKind.UNSUBSCRIBED: "envelope-slash",
    "email_failed": "envelope-exclamation",
    ActivityKind.SCORE_CHANGED: "speedometer2",
    ActivityKind.GRADE_CHANGED: "award",
    ActivityKind.STAGE_CHANGED: "signpost-split",
    ActivityKind.OWNER_CHANGED: "person-check",
    ActivityKind.NOTE_ADDED: "sticky",
    "note_edited": "pencil-square",
    "task_added": "check2-square",
    "task_done": "check2-circle",
    "deal_updated": "cash-coin",
}
NOTE_ICONS = {NoteKind.CALL: "telephone", NoteKind.EMAIL: "envelope-at",
              NoteKind.MEETING: "people"}
MAX_VALUE_CHARS = 500
FIELD_POSITIONS = {name: i for i, name in enumerate(EDITABLE_FIELDS)}


@dataclass
class TimelineEntry:
    """One activity, made readable: what the activity template shows for it."""

    activity: Activity
    title: str
    icon: str
    known_kind: bool
    by: str = ""
    summary: str = ""
    from_label: str = ""
    to_label: str = ""
    reason: str = ""
    link_text: str = ""
    link_href: str = ""
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    # Shown folded away under this summary (a new lead's initial values are long).
    pairs_summary: str = ""


def safe_href(url: Any) -> str:
    """``url`` if it is an absolute http(s) URL, else "". Escaping does not stop a
    ``javascript:`` link, so only these schemes become links."""
    if not isinstance(url, str):
        return ""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def field_label(name: Any) -> str:
    name = str(name)
    try:
        return capfirst(Lead._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return capfirst(name.replace("_", " "))


def _field_order(item: tuple[Any, Any]) -> tuple[int, str]:
    """Lead fields in the order of the form, then anything else by name: JSON objects
    come back from Postgres (jsonb) with their keys reordered."""
    name = str(item[0])
    return (FIELD_POSITIONS.get(name, len(FIELD_POSITIONS)), name)


def display_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str):
        text = value or "(empty)"
    elif isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = ", ".join(str(v) for v in value)
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _stage_label(value: Any) -> str:
    try:
        return Stage(value).label
    except ValueError:
        return display_value(value)


def _user_ids(activities: list[Activity]) -> set[int]:
    ids = set()
    for activity in activities:
        if activity.kind == ActivityKind.OWNER_CHANGED and isinstance(activity.data, dict):
            ids.update(
                v for v in (activity.data.get("from"), activity.data.get("to"))
                if isinstance(v, int) and not isinstance(v, bool)
            )
    return ids


def describe_activities(activities: list[Activity]) -> list[TimelineEntry]:
    """Readable timeline entries; at most one extra query (names for owner changes)."""
    ids = _user_ids(activities)
    users = get_user_model().objects.in_bulk(ids) if ids else {}
    names = {pk: user.display_name for pk, user in users.items()}
    return [describe_activity(activity, names) for activity in activities]


def describe_activity(activity: Activity, user_names: dict[int, str]) -> TimelineEntry:
    kind = activity.kind
    data = activity.data if isinstance(activity.data, dict) else {"data": activity.data}
    rest = dict(data)
    entry = TimelineEntry(
        activity=activity,
        title=activity.kind_label,
        icon=ACTIVITY_ICONS.get(kind, "lightning"),
        known_kind=kind in ActivityKind.values,
        by=activity.actor.display_name if activity.actor_id else "",
    )
    if kind == ActivityKind.LEAD_CREATED:
        source = rest.pop("source", "")
        if source:
            entry.summary = f"Source: {display_value(source)}"
        fields = rest.pop("fields", None)
        if isinstance(fields, dict):
            entry.pairs = [
                (field_label(n), display_value(v)) for n, v in sorted(fields.items(),
                                                                      key=_field_order)
            ]
            entry.pairs_summary = f"Initial values ({len(entry.pairs)})"
        elif fields is not None:
            rest["fields"] = fields
    elif kind in (ActivityKind.LEAD_UPDATED, "deal_updated"):
        changes = rest.pop("changes", None)
        if isinstance(changes, dict):
            entry.changes = [
                (field_label(n), display_value(c.get("old")), display_value(c.get("new")))
                for n, c in sorted(changes.items(), key=_field_order)
                if isinstance(c, dict)
            ]
        elif changes is not None:
            rest["changes"] = changes
    elif kind == ActivityKind.STAGE_CHANGED:
        entry.from_label = _stage_label(rest.pop("from", ""))
        entry.to_label = _stage_label(rest.pop("to", ""))
        reason = rest.pop("reason", "")
        entry.reason = display_value(reason) if reason else ""
        by = rest.pop("by", "")
        rest.pop("transition", None)
        entry.by = entry.by or (display_value(by) if by else "")
    elif kind == ActivityKind.OWNER_CHANGED:
        old, new = rest.pop("from", None), rest.pop("to", None)
        new_name = rest.pop("to_name", "")
        by = rest.pop("by", "")
        entry.from_label = _owner_label(old, user_names)
        entry.to_label = display_value(new_name) if new_name else _owner_label(new, user_names)
        entry.by = entry.by or (display_value(by) if by else "")
    elif kind in (ActivityKind.SCORE_CHANGED, ActivityKind.GRADE_CHANGED):
        for old_key, new_key in (("from", "to"), ("old", "new")):
            if old_key in rest or new_key in rest:
                entry.from_label = display_value(rest.pop(old_key, None))
                entry.to_label = display_value(rest.pop(new_key, None))
                break
    elif kind == ActivityKind.PAGE_VIEWED:
        _take_link(entry, rest, "url")
        title = rest.pop("title", "")
        if title:
            entry.summary = display_value(title)
    elif kind == ActivityKind.FORM_SUBMITTED:
        for key in ("form_name", "form", "form_key"):
            if rest.get(key) not in (None, ""):
                entry.summary = f"Form: {display_value(rest.pop(key))}"
                break
        fields = rest.pop("fields", None)
        if isinstance(fields, dict):
            entry.pairs = [(str(n), display_value(v)) for n, v in sorted(fields.items())]
        elif fields is not None:
            rest["fields"] = fields
    elif kind.startswith("email_"):
        subject = rest.pop("subject", "")
        if subject:
            entry.summary = f"Subject: {display_value(subject)}"
        _take_link(entry, rest, "url")
    elif kind in ("task_added", "task_done"):
        rest.pop("task", None)
        rest.pop("assignee", None)
        title = rest.pop("title", "")
        if title:
            entry.summary = display_value(title)
    elif kind in (ActivityKind.NOTE_ADDED, "note_edited"):
        rest.pop("old", None)
        note_kind = rest.pop("note_kind", NoteKind.NOTE)
        if kind == ActivityKind.NOTE_ADDED and note_kind in NoteKind.values and (
            note_kind != NoteKind.NOTE
        ):
            entry.title = f"{NoteKind(note_kind).label} logged"
            entry.icon = NOTE_ICONS[note_kind]
        if rest.get("text"):
            rest.pop("note", None)  # the note's id: the text says more
        for key in ("text", "body", "note"):
            if rest.get(key):
                entry.summary = display_value(rest.pop(key))
                break
    entry.pairs += [
        (capfirst(str(k).replace("_", " ")), display_value(v)) for k, v in sorted(rest.items())
    ]
    return entry


def _owner_label(user_id: Any, user_names: dict[int, str]) -> str:
    if user_id is None:
        return "Unassigned"
    return user_names.get(user_id) or f"user #{display_value(user_id)}"


def _take_link(entry: TimelineEntry, rest: dict, key: str) -> None:
    url = rest.pop(key, "")
    if url:
        entry.link_text = display_value(url)
        entry.link_href = safe_href(url)


def _timeline_group(request) -> str:
    # Anything but a group's key (a bookmarked raw kind, junk) shows all activity.
    return request.GET.get("kind", "").strip()[:64]


ATTRIBUTION_LABELS = {
    "utm_source": "UTM source",
    "utm_medium": "UTM medium",
    "utm_campaign": "UTM campaign",
    "utm_term": "UTM term",
    "utm_content": "UTM content",
    "referrer": "Referrer",
    "landing_url": "Landing page",
}


def _attribution_rows(lead: Lead) -> list[dict[str, str]]:
    """First and last touch side by side, one row per attribution field."""
    first, last = lead.attribution("first"), lead.attribution("last")
    return [
        {
            "label": ATTRIBUTION_LABELS.get(name, field_label(name)),
            "first": first[name],
            "first_href": safe_href(first[name]),
            "last": last[name],
            "last_href": safe_href(last[name]),
        }
        for name in Lead.ATTRIBUTION_FIELDS
    ]


def _attribute_rows(attributes: Any) -> list[tuple[str, str]]:
    if not isinstance(attributes, dict):
        return [("value", display_value(attributes))] if attributes else []
    return sorted((str(k), display_value(v)) for k, v in attributes.items())


class LeadDetailView(LeadsAccess, View):
    def get(self, request, pk: int):
        lead = self.get_lead(pk)
        kind = _timeline_group(request)
        timeline = lead_timeline(lead, group=kind)
        page = Paginator(timeline, ACTIVITIES_PER_PAGE).get_page(request.GET.get("page"))
        entries = describe_activities(list(page.object_list))
        context = {
            "lead": lead,
            "page_obj": page,
            "entries": entries,
            "kind": kind,
            "older_count": page.paginator.count - page.end_index(),
        }

        if request.htmx:
            # "Load older activity": just the next entries and the next button.
            response = render(request, "pipeline/_timeline_items.html", context)
        else:
            attribution = _attribution_rows(lead)
            context |= {
                "transitions": lead.transitions.select_related("by_user").order_by(
                    "-created_at", "-id"
                ),
                "kind_options": timeline_group_counts(lead),
                "attribution": attribution,
                "has_attribution": any(row["first"] or row["last"] for row in attribution),
                "attributes": _attribute_rows(lead.attributes),
                "website_href": safe_href(lead.website),
            }
            # Imported here: records.py builds on this module's LeadsAccess.
            from pipeline.views.records import lead_page_context

            context |= lead_page_context(request, lead)
            response = render(request, "pipeline/lead_detail.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response


# --- Create, edit, delete ------------------------------------------------------------------


def _apply_pipeline_fields(form: LeadForm, lead: Lead, actor) -> None:
    """Stage and owner from the form, through pipeline.services (which check the move
    and write StageTransition and the timeline). Only for people who work the pipeline."""
    if not form.can_work_pipeline:
        return
    stage = form.cleaned_data["stage"]
    if stage != lead.stage:
        lead_change_stage(
            lead=lead, to_stage=stage, actor=actor, reason=form.cleaned_data["stage_reason"]
        )
    owner = form.cleaned_data["owner"]
    if (owner.pk if owner else None) != lead.owner_id:
        lead_assign_owner(lead=lead, owner=owner, actor=actor)


class LeadCreateView(LeadsAccess, View):
    permission_required = ("capture.view_lead", "capture.add_lead")

    def get(self, request):
        return self.show(self.make_form())

    def post(self, request):
        form = self.make_form(request.POST)
        if form.is_valid():
            try:
                # One transaction: a refused stage move must not leave a half-made lead.
                with transaction.atomic():
                    lead = lead_create(actor=request.user, source="manual", **form.lead_fields())
                    _apply_pipeline_fields(form, lead, request.user)
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"Lead “{lead}” created.")
                return redirect("pipeline:lead_detail", pk=lead.pk)
        return self.show(form)

    def make_form(self, data=None) -> LeadForm:
        can_work = self.request.user.has_perm(PIPELINE_PERMISSION)
        return LeadForm(data, can_work_pipeline=can_work)

    def show(self, form: LeadForm):
        return render(
            self.request,
            "pipeline/lead_form.html",
            {"form": form, "lead": None, "cancel_url": reverse("pipeline:lead_list")},
        )


class LeadUpdateView(LeadsAccess, View):
    permission_required = ("capture.view_lead", "capture.change_lead")

    def get(self, request, pk: int):
        lead = self.get_lead(pk)
        return self.show(lead, self.make_form(lead))

    def post(self, request, pk: int):
        lead = self.get_lead(pk)
        form = self.make_form(lead, request.POST)
        if form.is_valid():
            if not form.has_changed():
                messages.info(request, "Nothing to save: no field was changed.")
                return redirect("pipeline:lead_detail", pk=lead.pk)
            try:
                with transaction.atomic():
                    # A copy: if the stage move below is refused, the transaction rolls
                    # back but lead_update's object holds the new values; ``lead`` must
                    # stay as stored for the page heading when the form comes back.
                    updated = lead_update(
                        lead=copy.copy(lead), actor=request.user, **form.lead_fields()
                    )
                    _apply_pipeline_fields(form, updated, request.user)
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"Saved changes to “{updated}”.")
                return redirect("pipeline:lead_detail", pk=lead.pk)
        return self.show(lead, form)

    def make_form(self, lead: Lead, data=None) -> LeadForm:
        # Stage and owner only for those who may move this lead (the board's rule): a rep
        # must not reach another rep's lead through its edit page instead.
        can_work = move_refusal(self.request.user, lead) is None
        return LeadForm(data, lead=lead, can_work_pipeline=can_work)

    def show(self, lead: Lead, form: LeadForm):
        refusal = move_refusal(self.request.user, lead)
        return render(
            self.request,
            "pipeline/lead_form.html",
            {
                "form": form,
                "lead": lead,
                "cancel_url": reverse("pipeline:lead_detail", args=[lead.pk]),
                # Said only to people who work the pipeline; others never see stage here.
                "pipeline_refusal": refusal
                if self.request.user.has_perm(PIPELINE_PERMISSION) else "",
            },
        )


class LeadDeleteView(LeadsAccess, View):
    permission_required = ("capture.view_lead", "capture.delete_lead")

    def get(self, request, pk: int):
        lead = self.get_lead(pk)
        return render(
            request,
            "pipeline/lead_confirm_delete.html",
            {"lead": lead, "activity_count": lead.activities.count()},
        )

    def post(self, request, pk: int):
        lead = self.get_lead(pk)
        name = str(lead)
        lead_delete(lead=lead)
        messages.success(request, f"Lead “{name}” and its timeline were deleted.")
        return redirect("pipeline:lead_list")


class LeadContactView(LeadsAccess, View):
    """The lead page's inline contact editor (htmx): GET the form (or, with ?show=1, the
    fields again), POST saves through lead_update and answers the updated fields. Without
    htmx, GET goes to the full edit page and POST redirects back to the lead."""

    permission_required = ("capture.view_lead", "capture.change_lead")

    def get(self, request, pk: int):
        lead = self.get_lead(pk)
        if not request.htmx:
            return redirect("pipeline:lead_update", pk=lead.pk)
        if request.GET.get("show"):
            return self.fields(lead)
        return self.form(lead, LeadContactForm(lead=lead))

    def post(self, request, pk: int):
        lead = self.get_lead(pk)
        form = LeadContactForm(request.POST, lead=lead)
        if form.is_valid():
            try:
                with transaction.atomic():
                    lead_update(lead=lead, actor=request.user, **form.changed_fields())
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                if not request.htmx:
                    messages.success(request, f"Saved changes to “{lead}”.")
                    return redirect("pipeline:lead_detail", pk=lead.pk)
                return self.fields(lead, saved=bool(form.changed_data))
        if not request.htmx:
            for name, errors in form.errors.items():
                label = form.fields[name].label if name in form.fields else ""
                for error in errors:
                    messages.error(request, f"{label}: {error}" if label else error)
            return redirect("pipeline:lead_detail", pk=lead.pk)
        # 200, not 4xx: htmx swaps only successful answers, and the form with its errors
        # must replace the one the person typed into.
        return self.form(lead, form)

    def form(self, lead: Lead, form: LeadContactForm):
        return render(self.request, "pipeline/_lead_contact_form.html",
                      {"lead": lead, "form": form})

    def fields(self, lead: Lead, saved: bool = False):
        return render(self.request, "pipeline/_lead_contact.html", {
            "lead": lead, "website_href": safe_href(lead.website), "saved": saved,
            "oob_name": saved,
        })
