"""Reads for the Forms section: the forms list with its figures, the submissions inbox,
and where a form is used. Every list here costs a fixed number of queries, however
many rows it shows (figures are subqueries of the list query, not a query per row)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import (
    Count,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from capture.models import (
    Channel,
    FieldType,
    Form,
    FormField,
    FormStatus,
    FormViews,
    LandingPageVariant,
    Submission,
)

# The forms list's status filter: "" shows the forms in use (draft and live).
STATUS_ACTIVE = ""
STATUS_ALL = "all"
STATUS_FILTERS = {
    STATUS_ACTIVE: "Draft and live",
    FormStatus.DRAFT: "Draft",
    FormStatus.LIVE: "Live",
    FormStatus.ARCHIVED: "Archived",
    STATUS_ALL: "All",
}

FOLDER_INBOX = "inbox"
FOLDER_SPAM = "spam"
MAX_SEARCH = 200


def _int_subquery(queryset: QuerySet, expression) -> Coalesce:
    """``expression`` aggregated over ``queryset`` (already correlated to the outer
    form), 0 when there are no rows: one scalar subquery in the list query."""
    aggregated = (
        queryset.order_by().values("form").annotate(total=expression).values("total")[:1]
    )
    return Coalesce(Subquery(aggregated, output_field=IntegerField()), Value(0))


def forms_with_figures(*, q: str = "", status: str = STATUS_ACTIVE) -> QuerySet[Form]:
    """Forms for the forms list, each annotated with ``view_total`` (the sum of its
    daily view counters), ``submission_total`` (genuine submissions, spam left out) and
    ``last_submission_at``. Conversion is computed from the two totals."""
    forms = Form.objects.all()
    if status == STATUS_ACTIVE:
        forms = forms.exclude(status=FormStatus.ARCHIVED)
    elif status in FormStatus.values:
        forms = forms.filter(status=status)
    q = q.strip()[:MAX_SEARCH]
    if q:
        forms = forms.filter(name__icontains=q)
    genuine = Submission.objects.filter(form=OuterRef("pk"), is_spam=False)
    last = genuine.order_by("-created_at").values("created_at")[:1]
    return forms.annotate(
        view_total=_int_subquery(FormViews.objects.filter(form=OuterRef("pk")), Sum("views")),
        submission_total=_int_subquery(genuine, Count("id")),
        last_submission_at=Subquery(last),
    ).order_by("name", "id")


def conversion_rate(views: int, submissions: int) -> float | None:
    """Submissions per view, as a fraction; None before the form was ever viewed (posts
    from the API or a static snippet record no view, so the rate may pass 100 %)."""
    if not views:
        return None
    return submissions / views


def percent(rate: float | None) -> str:
    if rate is None:
        return "—"
    return f"{rate * 100:.1f} %"


def form_with_fields(pk: int) -> Form | None:
    return (
        Form.objects.filter(pk=pk)
        .prefetch_related(Prefetch("fields", queryset=FormField.objects.order_by("position", "id")))
        .first()
    )


def form_figures(form: Form) -> dict[str, object]:
    """One form's totals (the builder and publish pages' header)."""
    views = FormViews.objects.filter(form=form).aggregate(total=Sum("views"))["total"] or 0
    figures = Submission.objects.filter(form=form).aggregate(
        genuine=Count("id", filter=Q(is_spam=False)),
        spam=Count("id", filter=Q(is_spam=True)),
        last=Max("created_at", filter=Q(is_spam=False)),
    )
    return {
        "views": views,
        "submissions": figures["genuine"],
        "spam": figures["spam"],
        "last_submission_at": figures["last"],
        "conversion": percent(conversion_rate(views, figures["genuine"])),
    }


def form_variants(form: Form) -> list[LandingPageVariant]:
    """The landing-page variants that show this form, with their pages."""
    return list(
        LandingPageVariant.objects.filter(form=form)
        .select_related("page")
        .order_by("page__title", "page_id", "name")
    )


# --- Submissions inbox ----------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionQuery:
    """The inbox's filters, as read from the query string; ``problems`` names those
    that could not be read (they are left out, never turned into "no results")."""

    folder: str = FOLDER_INBOX
    q: str = ""
    form_id: int | None = None
    channel: str = ""
    date_from: date | None = None
    date_to: date | None = None
    problems: tuple[tuple[str, str], ...] = ()
    form_fixed: bool = False  # the per-form inbox: the form is the page, not a filter

    @property
    def filtered(self) -> bool:
        form_filter = self.form_id is not None and not self.form_fixed
        return bool(self.q or form_filter or self.channel or self.date_from or self.date_to)


def _date(raw: str, label: str, problems: list) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.strip()[:10])
    except ValueError:
        problems.append((label, "Enter a date as YYYY-MM-DD."))
        return None


def submission_query(params, *, form: Form | None = None) -> SubmissionQuery:
    """Read the inbox filters from a QueryDict. ``form``: the per-form inbox."""
    problems: list[tuple[str, str]] = []
    folder = FOLDER_SPAM if params.get("folder") == FOLDER_SPAM else FOLDER_INBOX
    form_id = None
    if form is not None:
        form_id = form.pk
    elif raw := params.get("form", ""):
        if raw.isascii() and raw.isdigit() and int(raw) < 2**63:
            form_id = int(raw)
        else:
            problems.append(("Form", "Choose a form from the list."))
    channel = params.get("channel", "")
    if channel and channel not in Channel.values:
        problems.append(("Channel", "Choose a channel from the list."))
        channel = ""
    q = params.get("q", "").strip()[:MAX_SEARCH].replace("\x00", "")
    return SubmissionQuery(
        folder=folder,
        q=q,
        form_id=form_id,
        channel=channel,
        date_from=_date(params.get("date_from", ""), "From", problems),
        date_to=_date(params.get("date_to", ""), "To", problems),
        problems=tuple(problems),
        form_fixed=form is not None,
    )


def _email_search(queryset: QuerySet[Submission], q: str) -> QuerySet[Submission]:
    """Submissions whose email contains ``q``: the lead's email (genuine ones), or the
    email as typed (spam has no lead). The typed email sits under the email field's
    name, "email" unless a form renamed it."""
    condition = Q(lead__email__icontains=q) | Q(typed_email__icontains=q)
    queryset = queryset.alias(typed_email=KeyTextTransform("email", "data"))
    renamed = (
        FormField.objects.filter(type=FieldType.EMAIL).exclude(name="email")
        .values_list("name", "form_id")
    )
    by_name: dict[str, list[int]] = {}
    for name, form_id in renamed:
        by_name.setdefault(name, []).append(form_id)
    for i, (name, form_ids) in enumerate(sorted(by_name.items())):
        alias = f"typed_email_{i}"
        queryset = queryset.alias(**{alias: KeyTextTransform(name, "data")})
        condition |= Q(form_id__in=form_ids, **{f"{alias}__icontains": q})
    return queryset.filter(condition)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def submissions_filtered(query: SubmissionQuery) -> QuerySet[Submission]:
    """Submissions matching ``query`` in both folders (counts per folder come from
    this); ``submission_list`` narrows it to one folder."""
    submissions = Submission.objects.all()
    if query.form_id is not None:
        submissions = submissions.filter(form_id=query.form_id)
    if query.channel:
        submissions = submissions.filter(channel=query.channel)
    try:
        if query.date_from:
            submissions = submissions.filter(created_at__gte=_day_start(query.date_from))
        if query.date_to:
            submissions = submissions.filter(
                created_at__lt=_day_start(query.date_to + timedelta(days=1))
            )
    except OverflowError:  # 9999-12-31 + 1 day
        pass
    if query.q:
        submissions = _email_search(submissions, query.q)
    return submissions


def submission_list(query: SubmissionQuery) -> QuerySet[Submission]:
    """One folder of the inbox, newest first, with what each row shows (the form and
    its fields for labels, the lead) in two more queries however many rows."""
    return (
        submissions_filtered(query)
        .filter(is_spam=query.folder == FOLDER_SPAM)
        .select_related("form", "lead", "variant__page")
        .prefetch_related(
            Prefetch("form__fields", queryset=FormField.objects.order_by("position", "id"))
        )
        .order_by("-created_at", "-id")
    )


def folder_counts(query: SubmissionQuery) -> dict[str, int]:
    counts = submissions_filtered(query).aggregate(
        inbox=Count("id", filter=Q(is_spam=False)), spam=Count("id", filter=Q(is_spam=True))
    )
    return {FOLDER_INBOX: counts["inbox"], FOLDER_SPAM: counts["spam"]}


def form_choices() -> list[tuple[int, str, str]]:
    """(id, name, status) of every form, for the inbox's form filter."""
    return list(Form.objects.order_by("name", "id").values_list("id", "name", "status"))
