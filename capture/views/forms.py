"""The Forms section (/forms/…): the forms list, the builder with its live preview, and
the publish panel.

Reading needs what reading leads needs (capture.view_lead); changing anything needs
leadhub.manage_forms (marketers and admins): others see the builder read-only and get a
403 on every POST. Views stay thin: reads come from capture.selectors, writes go
through capture.services.forms.

The builder is one HTML form holding the settings and the ordered field list. Adding,
removing and moving a field change only what is on the page (a round trip that returns
the field list, unsaved, as an htmx partial or, without JavaScript, the whole page);
"Save" hands everything to ``form_update`` at once. Dragging and the keyboard's move
buttons reorder rows in the browser (static/js/form-builder.js) when JavaScript runs.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import escape
from django.views import View

from capture import selectors
from capture.forms import (
    ADDABLE_TYPES,
    FIELDS_PREFIX,
    TARGET_ATTRIBUTE,
    FieldRowFormSet,
    FormCreateForm,
    FormSettingsForm,
    add_service_errors,
    new_row,
    row_initial,
)
from capture.models import Form, FormStatus
from capture.services.forms import (
    MAX_FIELDS,
    form_create,
    form_delete,
    form_duplicate,
    form_status_set,
    form_update,
)

MANAGE_FORMS = "leadhub.manage_forms"
FORMS_PER_PAGE = 25
STATUS_ACTIONS = {"publish": FormStatus.LIVE, "unpublish": FormStatus.DRAFT,
                  "archive": FormStatus.ARCHIVED}


class FormsAccess(LoginRequiredMixin, PermissionRequiredMixin):
    """Signed-out visitors go to the login page; signed-in users without the permission
    get a 403."""

    permission_required: tuple[str, ...] = ("capture.view_lead",)

    @property
    def can_manage(self) -> bool:
        return self.request.user.has_perm(MANAGE_FORMS)

    def require_manage(self) -> None:
        if not self.can_manage:
            raise PermissionDenied("Changing forms needs the “manage forms” permission.")

    def get_form_object(self, pk: int) -> Form:
        form = selectors.form_with_fields(pk)
        if form is None:
            raise Http404("No such form.")
        return form


class ManageFormsAccess(FormsAccess):
    permission_required = ("capture.view_lead", MANAGE_FORMS)


def public_form_url(form: Form) -> str:
    return f"{settings.PUBLIC_URL}{reverse('capture-public:form_post', args=[form.key])}"


# --- The forms list -------------------------------------------------------------------------


class FormListView(FormsAccess, View):
    def get(self, request):
        q = request.GET.get("q", "")
        status = request.GET.get("status", selectors.STATUS_ACTIVE)
        if status not in selectors.STATUS_FILTERS:
            messages.warning(request, "Unknown status filter; showing draft and live forms.")
            status = selectors.STATUS_ACTIVE
        forms = selectors.forms_with_figures(q=q, status=status)
        paginator = Paginator(forms, FORMS_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        for form in page.object_list:
            form.conversion = selectors.conversion_rate(form.view_total, form.submission_total)
            form.conversion_display = selectors.percent(form.conversion)
        context = {
            "page_obj": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2),
            "q": q,
            "status": status,
            "status_filters": selectors.STATUS_FILTERS,
            "filters_active": bool(q.strip()) or status != selectors.STATUS_ACTIVE,
            "can_manage": self.can_manage,
        }
        return render(request, "capture/forms/list.html", context)


class FormCreateView(ManageFormsAccess, View):
    def get(self, request):
        return render(request, "capture/forms/new.html", {"create_form": FormCreateForm()})

    def post(self, request):
        create_form = FormCreateForm(request.POST)
        if create_form.is_valid():
            try:
                form = form_create(name=create_form.cleaned_data["name"], actor=request.user)
            except ValidationError as exc:
                for key, errors in exc.message_dict.items():
                    create_form.add_error(key if key in create_form.fields else None, errors)
            else:
                messages.success(request, f"Form “{form.name}” created: add its fields below.")
                return redirect("capture:form_builder", pk=form.pk)
        return render(request, "capture/forms/new.html", {"create_form": create_form})


# --- The builder ----------------------------------------------------------------------------


def _renumbered(rows: list[dict]) -> list[dict]:
    for position, row in enumerate(rows):
        row["position"] = position
    return rows


class FormBuilderView(FormsAccess, View):
    """GET: the builder. POST ``_action``: "save" (default), "add:<type>" (or "add"
    with ``_new_type``), "remove:<row>", "move:<row>:up|down"; rows are numbered as
    in the posted formset."""

    def get(self, request, pk: int):
        form = self.get_form_object(pk)
        formset = FieldRowFormSet(
            prefix=FIELDS_PREFIX,
            initial=_renumbered([row_initial(f) for f in form.fields.all()]),
        )
        return self.show(form, FormSettingsForm.for_form(form), formset)

    def post(self, request, pk: int):
        self.require_manage()
        form = self.get_form_object(pk)
        settings_form = FormSettingsForm(request.POST)
        formset = FieldRowFormSet(request.POST, prefix=FIELDS_PREFIX)
        if not formset.management_form.is_valid():
            return HttpResponseBadRequest("The builder's form was incomplete; reload the page.")
        action = request.POST.get("_action", "save")
        if action == "save":
            return self.save(form, settings_form, formset)
        return self.rearrange(form, settings_form, formset, action)

    def save(self, form: Form, settings_form: FormSettingsForm, formset):
        rows = formset.sorted_forms()
        problems: list[str] = []
        settings_ok = settings_form.is_valid()
        if formset.is_valid() and settings_ok:
            try:
                form_update(form=form, fields=[row.spec() for row in rows],
                            **settings_form.settings())
            except ValidationError as exc:
                problems = add_service_errors(settings_form, rows, exc)
            else:
                messages.success(self.request, f"Saved “{form.name}”.")
                return redirect("capture:form_builder", pk=form.pk)
        problems += list(formset.non_form_errors())
        return self.show(form, settings_form, formset, rows=rows, problems=problems,
                         failed=True)

    def rearrange(self, form: Form, settings_form: FormSettingsForm, formset, action: str):
        """Add, remove or move a row of the unsaved field list and show it again, as it
        was typed (no errors shown for fields the marketer has not finished)."""
        rows = [row.raw() for row in formset.sorted_forms()]
        indexes = [row.index for row in formset.sorted_forms()]
        kind, _, arg = action.partition(":")
        focus: tuple[int, str] | None = None
        if kind == "add" and len(rows) < MAX_FIELDS:
            taken_names = {str(r["name"]) for r in rows}
            taken_targets = {str(r["target"]) for r in rows if r["target"] != TARGET_ATTRIBUTE}
            rows.append(new_row(arg or self.request.POST.get("_new_type", ""), taken_names,
                                taken_targets))
            focus = (len(rows) - 1, "label")
        elif kind in ("remove", "move"):
            number, _, direction = arg.partition(":")
            at = indexes.index(int(number)) if number.isdigit() and int(number) in indexes \
                else None
            if at is not None and kind == "remove" and rows[at]["type"] != "email":
                del rows[at]
                if rows:
                    focus = (min(at, len(rows) - 1), "label-summary")
            elif at is not None and kind == "move":
                to = at - 1 if direction == "up" else at + 1
                if 0 <= to < len(rows):
                    rows[at], rows[to] = rows[to], rows[at]
                    focus = (to, direction)
                else:
                    focus = (at, direction)
        formset = FieldRowFormSet(prefix=FIELDS_PREFIX, initial=_renumbered(rows))
        if focus and focus[1] == "label":
            # A new field: typing its label comes next.
            formset.forms[focus[0]].fields["label"].widget.attrs["autofocus"] = True
        if self.request.htmx:
            response = render(self.request, "capture/forms/_fields.html",
                              self.fields_context(form, formset, focus=focus))
            patch_vary_headers(response, ["HX-Request"])
            return response
        # Without JavaScript: the whole page again, with the settings as typed.
        unsaved = FormSettingsForm(initial={name: settings_form[name].value()
                                            for name in settings_form.fields})
        return self.show(form, unsaved, formset, focus=focus)

    def fields_context(self, form: Form, formset, *, rows=None, focus=None) -> dict:
        rows = rows if rows is not None else formset.sorted_forms()
        return {
            "form": form,
            "formset": formset,
            "rows": rows,
            "add_types": ADDABLE_TYPES,
            "can_edit": self.can_manage,
            "max_fields": MAX_FIELDS,
            "focus_row": focus[0] if focus else None,
            "focus_on": focus[1] if focus else "",
        }

    def show(self, form: Form, settings_form, formset, *, rows=None, problems=(),
             failed=False, focus=None):
        rows = rows if rows is not None else formset.sorted_forms()
        preview_form, preview_fields = preview_state(form, settings_form, rows)
        context = {
            **self.fields_context(form, formset, rows=rows, focus=focus),
            "settings_form": settings_form,
            "problems": problems,
            "failed": failed,
            "figures": selectors.form_figures(form),
            **preview_context(self.request, preview_form, preview_fields),
        }
        response = render(self.request, "capture/forms/builder.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response


def preview_state(form: Form, settings_form: FormSettingsForm, rows) -> tuple[Form, list]:
    """An unsaved copy of ``form`` with the settings and fields as they are on the page."""
    def typed(name: str, fallback):
        value = settings_form[name].value() if settings_form.is_bound else None
        return fallback if value is None else value

    preview = Form(pk=form.pk, key=form.key, status=form.status,
                   name=str(typed("name", form.name))[:200],
                   consent_text=str(typed("consent_text", form.consent_text))[:5000])
    return preview, [row.preview_field(i) for i, row in enumerate(rows)]


def preview_context(request, preview: Form, fields: list) -> dict:
    return {
        "preview": {
            "form": preview,
            "fields": fields,
            "values": {},
            "errors": {},
            # The preview's button is disabled; were it pressed anyway, the post lands
            # on the preview view, which says nothing was sent.
            "post_url": reverse("capture:form_preview", args=[preview.pk]),
            "token": "",
            "page_url": "",
            "referrer": "",
        }
    }


class FormPreviewView(FormsAccess, View):
    """POST the builder's inputs: the form as visitors would see it, from the unsaved
    state (htmx re-renders the preview beside the editor as the marketer types)."""

    def post(self, request, pk: int):
        form = self.get_form_object(pk)
        settings_form = FormSettingsForm(request.POST)
        formset = FieldRowFormSet(request.POST, prefix=FIELDS_PREFIX)
        if not formset.management_form.is_valid():
            # The preview's own submit button, pressed without JavaScript.
            messages.info(request, "That was the preview: nothing was submitted.")
            return redirect("capture:form_builder", pk=form.pk)
        preview, fields = preview_state(form, settings_form, formset.sorted_forms())
        return render(request, "capture/forms/_preview.html",
                      preview_context(request, preview, fields))


# --- Publishing -----------------------------------------------------------------------------


def html_snippet(form: Form, fields) -> str:
    """The form as static HTML for any website: posts to LeadHub's public address, with
    the honeypot and the style that hides it; no render token and no script (so no
    minimum-time check and no proof of work: the other defences judge its posts)."""
    html = render_to_string(
        "capture/forms/snippet.html",
        {"form": form, "fields": list(fields), "values": {}, "errors": {}, "snippet": True,
         "post_url": public_form_url(form)},
    )
    return "\n".join(line.rstrip() for line in html.splitlines() if line.strip()) + "\n"


def embed_snippet(form: Form) -> str:
    key = escape(form.key)
    script = escape(f"{public_form_url(form)}embed.js")
    return (f'<div data-leadhub-form="{key}"></div>\n'
            f'<script src="{script}" async></script>\n')


class FormPublishView(FormsAccess, View):
    def get(self, request, pk: int):
        form = self.get_form_object(pk)
        variants = selectors.form_variants(form)
        pages = [
            {"variant": v, "page": v.page,
             "url": f"{settings.PUBLIC_URL}/p/{v.page.slug}/"}
            for v in variants
        ]
        context = {
            "form": form,
            "can_edit": self.can_manage,
            "hosted_url": public_form_url(form),
            "pages": pages,
            "html_snippet": html_snippet(form, form.fields.all()),
            "embed_snippet": embed_snippet(form),
            "figures": selectors.form_figures(form),
        }
        return render(request, "capture/forms/publish.html", context)

    def post(self, request, pk: int):
        self.require_manage()
        form = self.get_form_object(pk)
        status = STATUS_ACTIONS.get(request.POST.get("action", ""))
        if status is None:
            return HttpResponseBadRequest("Unknown action.")
        try:
            form_status_set(form=form, status=status)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, {
                FormStatus.LIVE: f"“{form.name}” is live: it takes submissions.",
                FormStatus.DRAFT: f"“{form.name}” is a draft again: it takes no submissions.",
                FormStatus.ARCHIVED: f"“{form.name}” is archived.",
            }[status])
        return redirect("capture:form_publish", pk=form.pk)


# --- Duplicate and delete -------------------------------------------------------------------


class FormDuplicateView(ManageFormsAccess, View):
    def post(self, request, pk: int):
        form = self.get_form_object(pk)
        copy = form_duplicate(form=form, actor=request.user)
        messages.success(request, f"Made “{copy.name}”, a draft copy of “{form.name}”.")
        return redirect("capture:form_builder", pk=copy.pk)


class FormDeleteView(ManageFormsAccess, View):
    def get(self, request, pk: int):
        form = self.get_form_object(pk)
        figures = selectors.form_figures(form)
        context = {
            "form": form,
            "figures": figures,
            "pages": selectors.form_variants(form),
            "keeps": bool(figures["submissions"] or figures["spam"]),
        }
        return render(request, "capture/forms/confirm_delete.html", context)

    def post(self, request, pk: int):
        form = self.get_form_object(pk)
        name = form.name
        outcome = form_delete(form=form)
        if outcome == "deleted":
            messages.success(request, f"Form “{name}” deleted.")
        else:
            messages.success(
                request,
                f"Form “{name}” archived, not deleted: its submissions (or a landing page) "
                "refer to it.",
            )
        return redirect("capture:form_list")
