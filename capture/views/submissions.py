"""The submissions inbox (/forms/submissions/ and /forms/<id>/submissions/): every post a
form took, genuine ones in the Inbox and flagged ones in Spam with the reason, and the
"Not spam" action that processes a flagged one as if it had been accepted.

Everything shown here was typed by a visitor (values, user agent, URLs): templates
print it through autoescaping only, and URLs are text, never links, so a visitor
cannot plant a link in the inbox."""

import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from capture import selectors
from capture.models import Channel, Submission
from capture.services.submissions import submission_mark_not_spam
from capture.validation import UTM_PARAMS, SubmissionInvalid
from capture.views.forms import FormsAccess, ManageFormsAccess

SUBMISSIONS_PER_PAGE = 25
MAX_VALUE_CHARS = 300
ATTRIBUTION_LABELS = {
    "utm_source": "Source",
    "utm_medium": "Medium",
    "utm_campaign": "Campaign",
    "utm_term": "Term",
    "utm_content": "Content",
    "referrer": "Referrer",
    "landing_url": "Page",
}


def display_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, str | int | float):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def value_rows(submission: Submission, limit: int = MAX_VALUE_CHARS) -> list[tuple[str, str]]:
    """(label, value) per submitted field: the form's fields in order, then names no
    longer on the form (a field removed since)."""
    data = submission.data if isinstance(submission.data, dict) else {"data": submission.data}
    rows, seen = [], set()
    for field in submission.form.fields.all():
        if field.name in data:
            rows.append((field.label or field.name, display_value(data[field.name], limit)))
            seen.add(field.name)
    rows += [(str(name), display_value(value, limit))
             for name, value in sorted(data.items()) if name not in seen]
    return rows


def attribution_rows(submission: Submission, *, all_keys: bool = False) -> list[tuple[str, str]]:
    attribution = submission.attribution if isinstance(submission.attribution, dict) else {}
    keys = [*UTM_PARAMS, "referrer", "landing_url"]
    return [
        (ATTRIBUTION_LABELS[key], display_value(attribution.get(key, ""), 500))
        for key in keys
        if all_keys or attribution.get(key)
    ]


class SubmissionListView(FormsAccess, View):
    """The inbox, for all forms or (with ``pk``) one."""

    def get(self, request, pk: int | None = None):
        form = self.get_form_object(pk) if pk is not None else None
        query = selectors.submission_query(request.GET, form=form)
        paginator = Paginator(selectors.submission_list(query), SUBMISSIONS_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        rows = [
            {"submission": s, "values": value_rows(s, 120), "attribution": attribution_rows(s)}
            for s in page.object_list
        ]
        here = reverse("capture:form_submissions", args=[form.pk]) if form else reverse(
            "capture:submission_list")
        context = {
            "form": form,
            "query": query,
            "rows": rows,
            "page_obj": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2),
            "counts": selectors.folder_counts(query),
            "spam_folder": query.folder == selectors.FOLDER_SPAM,
            "forms": [] if form else selectors.form_choices(),
            "channels": Channel.choices,
            "can_manage": self.can_manage,
            "can_edit": self.can_manage,
            "figures": selectors.form_figures(form) if form else None,
            "here": here,
            "next_url": request.get_full_path(),
        }
        return render(request, "capture/submissions/list.html", context)


class SubmissionDetailView(FormsAccess, View):
    def get(self, request, pk: int):
        submission = get_object_or_404(
            Submission.objects.select_related("form", "lead", "variant__page"), pk=pk
        )
        context = {
            "submission": submission,
            "form": submission.form,
            "values": value_rows(submission, 5000),
            "attribution": attribution_rows(submission, all_keys=True),
            "ignored": [display_value(name, 100) for name in submission.ignored_fields or []],
            "can_manage": self.can_manage,
            "next_url": request.get_full_path(),
        }
        return render(request, "capture/submissions/detail.html", context)


class SubmissionNotSpamView(ManageFormsAccess, View):
    """POST: a flagged submission is genuine; process it now (lead, activity, follow-up
    work), through capture.services.submission_mark_not_spam."""

    def post(self, request, pk: int):
        submission = get_object_or_404(Submission, pk=pk)
        try:
            outcome = submission_mark_not_spam(submission=submission, actor=request.user)
        except SubmissionInvalid as exc:
            problems = "; ".join(f"{name}: {' '.join(errors)}"
                                 for name, errors in exc.errors.items())
            messages.error(
                request,
                "This submission no longer fits the form's fields, so it stays in Spam "
                f"({problems}).",
            )
        else:
            messages.success(
                request, "Moved to the inbox and processed: the lead is created or updated."
                if outcome.lead_id else "Moved to the inbox."
            )
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
            target = reverse("capture:submission_detail", args=[submission.pk])
        return redirect(target)
