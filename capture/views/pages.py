"""Landing pages in the app (/forms/pages/…): the list with each page's figures, a
page's variants and their figures, create and edit pages and variants, and previews.

Every signed-in user with a role reads them; changing them takes leadhub.manage_forms.
Writes go through capture.services.pages; the forms here only lay out and check input.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from capture.markdown import render_markdown
from capture.models import Form, FormStatus, LandingPage, LandingPageVariant, PageStatus
from capture.services.pages import (
    MAGNET_EXTENSIONS,
    MAGNET_MAX_BYTES,
    MAX_BODY_MARKDOWN,
    conversion_rate,
    lead_magnet_problem,
    next_variant_name,
    page_create,
    page_update,
    pages_with_stats,
    variant_create,
    variant_delete,
    variant_update,
    variants_with_stats,
)
from capture.views.public import landing_context

PAGES_PER_PAGE = 25


class PagesRead(LoginRequiredMixin, PermissionRequiredMixin):
    """There is no separate "see forms" permission: every role reads leads, and reads
    the pages that bring them in. Users without a role get a 403."""

    permission_required: tuple[str, ...] = ("capture.view_lead",)

    def get_page(self, pk: int) -> LandingPage:
        return get_object_or_404(LandingPage, pk=pk)

    def get_variant(self, page_pk: int, pk: int) -> LandingPageVariant:
        return get_object_or_404(
            LandingPageVariant.objects.select_related("page", "form"), pk=pk, page_id=page_pk
        )


class PagesEdit(PagesRead):
    permission_required = ("leadhub.manage_forms",)


# --- Forms (input only; the services write) -----------------------------------------------


class LandingPageForm(forms.Form):
    title = forms.CharField(max_length=200, help_text="The browser tab and search result title.")
    slug = forms.SlugField(
        max_length=100, label="Address",
        help_text="The page's address, after /p/. Letters, digits, - and _.",
    )
    status = forms.ChoiceField(
        choices=PageStatus.choices, initial=PageStatus.DRAFT,
        help_text="Draft pages are not public (their address answers 404).",
    )
    meta_description = forms.CharField(
        max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Shown under the title in search results and link previews.",
    )
    social_title = forms.CharField(
        max_length=200, required=False,
        help_text="The title in link previews on social networks (default: the title).",
    )
    social_image_url = forms.URLField(
        max_length=2000, required=False, assume_scheme="https", label="Social image URL",
        help_text="An image for link previews (1200×630 works everywhere).",
    )
    lead_magnet = forms.FileField(
        required=False,
        # A plain file input: the stored file has no public URL to link to (it is only
        # ever sent through a signed, expiring link), so the template names it instead.
        widget=forms.FileInput(attrs={"accept": ",".join(f".{e}" for e in MAGNET_EXTENSIONS)}),
        help_text=(
            f"Sent after a submission by a download link that expires. "
            f"{', '.join(e.upper() for e in MAGNET_EXTENSIONS if e != 'jpeg')}; "
            f"at most {MAGNET_MAX_BYTES // (1024 * 1024)} MB."
        ),
    )
    remove_lead_magnet = forms.BooleanField(required=False, label="Remove the current file")
    lead_magnet_name = forms.CharField(
        max_length=200, required=False, label="Lead magnet name",
        help_text="What the visitor downloads, e.g. “The 2026 buyer’s guide”.",
    )

    def clean_slug(self):
        return self.cleaned_data["slug"].lower()

    def clean_lead_magnet(self):
        upload = self.cleaned_data.get("lead_magnet")
        if upload and (problem := lead_magnet_problem(upload)):
            raise forms.ValidationError(problem)
        return upload

    def page_fields(self) -> dict:
        """cleaned_data as page service arguments: the file only when it changes."""
        data = dict(self.cleaned_data)
        upload = data.pop("lead_magnet", None)
        remove = data.pop("remove_lead_magnet", False)
        if upload:
            data["lead_magnet"] = upload  # a new file replaces the old one
        elif remove:
            data["lead_magnet"] = False
        return data


def _form_choices(current: Form | None = None):
    live = Q(status=FormStatus.LIVE)
    if current is not None:
        live |= Q(pk=current.pk)  # shown, so the form does not silently change
    return Form.objects.filter(live).order_by("name", "id")


class VariantForm(forms.Form):
    name = forms.CharField(
        max_length=20, required=False,
        help_text="A, B, … (left empty: the next free letter).",
    )
    headline = forms.CharField(max_length=300)
    body_markdown = forms.CharField(
        label="Body", required=False, max_length=MAX_BODY_MARKDOWN,
        widget=forms.Textarea(attrs={"rows": 14, "class": "font-monospace"}),
        help_text="Markdown: # headings, **bold**, *italic*, lists, [links](https://…), "
        "![images](https://…), > quotes, `code` and tables. Scripts and other HTML are removed.",
    )
    form = forms.ModelChoiceField(
        queryset=Form.objects.none(), label="Form",
        help_text="The live form shown beside the text.",
    )
    active = forms.BooleanField(
        required=False, initial=True,
        help_text="Inactive variants are not shown; live pages split visitors evenly "
        "between the active ones.",
    )

    def __init__(self, *args, current_form: Form | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["form"].queryset = _form_choices(current_form)


class FirstVariantForm(VariantForm):
    """A new page's first variant, on the page form (prefixed "variant")."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="variant", **kwargs)
        del self.fields["name"]
        del self.fields["active"]


def _add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


# --- The list -----------------------------------------------------------------------------


class PageListView(PagesRead, View):
    def get(self, request):
        search = request.GET.get("q", "")[:200]
        paginator = Paginator(pages_with_stats(search=search), PAGES_PER_PAGE)
        page_obj = paginator.get_page(request.GET.get("page"))
        for page in page_obj:
            page.conversion = conversion_rate(views=page.view_total,
                                              submissions=page.submission_total)
        return render(request, "capture/pages/page_list.html", {
            "page_obj": page_obj,
            "page_range": paginator.get_elided_page_range(page_obj.number, on_each_side=2),
            "q": search,
        })


# --- A page -------------------------------------------------------------------------------


class PageDetailView(PagesRead, View):
    def get(self, request, pk: int):
        page = self.get_page(pk)
        variants = list(variants_with_stats(page))
        for variant in variants:
            variant.conversion = conversion_rate(views=variant.view_total,
                                                 submissions=variant.submission_total)
        totals = {"views": sum(v.view_total for v in variants),
                  "submissions": sum(v.submission_total for v in variants)}
        totals["conversion"] = conversion_rate(**totals)
        return render(request, "capture/pages/page_detail.html", {
            "page": page,
            "variants": variants,
            "totals": totals,
            "active_count": sum(1 for v in variants if v.active),
            "redirecting_forms": sorted({v.form.name for v in variants if v.form.redirect_url}),
            "public_url": request.build_absolute_uri(
                reverse("capture-public:landing_page", args=[page.slug])
            ),
        })


class PageCreateView(PagesEdit, View):
    template_name = "capture/pages/page_form.html"

    def get(self, request):
        return self._render(LandingPageForm(), FirstVariantForm())

    def post(self, request):
        form = LandingPageForm(request.POST, request.FILES)
        variant_form = FirstVariantForm(request.POST)
        if form.is_valid() and variant_form.is_valid():
            try:
                page = page_create(actor=request.user, variant=variant_form.cleaned_data,
                                   **form.page_fields())
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, f"Landing page “{page.title}” created.")
                return redirect("capture:page_detail", pk=page.pk)
        return self._render(form, variant_form, status=400)

    def _render(self, form, variant_form, status=200):
        return render(self.request, self.template_name,
                      {"form": form, "variant_form": variant_form}, status=status)


class PageUpdateView(PagesEdit, View):
    template_name = "capture/pages/page_form.html"

    def _initial(self, page: LandingPage) -> dict:
        return {name: getattr(page, name) for name in LandingPageForm.base_fields
                if name not in ("lead_magnet", "remove_lead_magnet")}

    def get(self, request, pk: int):
        page = self.get_page(pk)
        return self._render(page, LandingPageForm(initial=self._initial(page)))

    def post(self, request, pk: int):
        page = self.get_page(pk)
        form = LandingPageForm(request.POST, request.FILES, initial=self._initial(page))
        if form.is_valid():
            try:
                page_update(page=page, actor=request.user, **form.page_fields())
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, "Page settings saved.")
                return redirect("capture:page_detail", pk=page.pk)
        return self._render(page, form, status=400)

    def _render(self, page, form, status=200):
        return render(self.request, self.template_name, {"page": page, "form": form},
                      status=status)


# --- Variants -----------------------------------------------------------------------------


class VariantCreateView(PagesEdit, View):
    template_name = "capture/pages/variant_form.html"

    def get(self, request, pk: int):
        page = self.get_page(pk)
        source = page.variants.select_related("form").order_by("name").first()
        initial = {"name": next_variant_name(page), "active": True}
        if source is not None:  # start from a copy of the first variant: A/B is a change
            initial.update(headline=source.headline, body_markdown=source.body_markdown,
                           form=source.form_id)
        return self._render(page, VariantForm(initial=initial))

    def post(self, request, pk: int):
        page = self.get_page(pk)
        form = VariantForm(request.POST)
        if form.is_valid():
            try:
                variant = variant_create(page=page, **form.cleaned_data)
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, f"Variant {variant.name} added.")
                return redirect("capture:page_detail", pk=page.pk)
        return self._render(page, form, status=400)

    def _render(self, page, form, status=200):
        return render(self.request, self.template_name,
                      {"page": page, "form": form, "variant": None}, status=status)


class VariantUpdateView(PagesEdit, View):
    template_name = "capture/pages/variant_form.html"

    def get(self, request, pk: int, variant_pk: int):
        variant = self.get_variant(pk, variant_pk)
        initial = {name: getattr(variant, name) for name in
                   ("name", "headline", "body_markdown", "active")}
        initial["form"] = variant.form_id
        return self._render(variant, VariantForm(initial=initial, current_form=variant.form))

    def post(self, request, pk: int, variant_pk: int):
        variant = self.get_variant(pk, variant_pk)
        form = VariantForm(request.POST, current_form=variant.form)
        if form.is_valid():
            fields = dict(form.cleaned_data)
            fields["name"] = fields["name"] or variant.name
            try:
                variant_update(variant=variant, **fields)
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, f"Variant {variant.name} saved.")
                return redirect("capture:page_detail", pk=variant.page_id)
        return self._render(variant, form, status=400)

    def _render(self, variant, form, status=200):
        return render(self.request, self.template_name,
                      {"page": variant.page, "form": form, "variant": variant}, status=status)


class VariantDeleteView(PagesEdit, View):
    def get(self, request, pk: int, variant_pk: int):
        variant = self.get_variant(pk, variant_pk)
        return render(request, "capture/pages/variant_confirm_delete.html",
                      {"page": variant.page, "variant": variant,
                       "has_submissions": variant.submissions.exists()})

    def post(self, request, pk: int, variant_pk: int):
        variant = self.get_variant(pk, variant_pk)
        try:
            variant_delete(variant=variant)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Variant {variant.name} deleted.")
        return redirect("capture:page_detail", pk=pk)


# --- Previews -----------------------------------------------------------------------------


class VariantPreviewView(PagesRead, View):
    """The variant as visitors would see it (draft pages and inactive variants too),
    without counting a view; the form cannot be sent from here."""

    def get(self, request, pk: int, variant_pk: int):
        variant = self.get_variant(pk, variant_pk)
        context = landing_context(request, variant.page, variant, preview=True)
        response = render(request, "capture/public/landing.html", context)
        response["X-Robots-Tag"] = "noindex"
        return response


class MarkdownPreviewView(PagesEdit, View):
    """htmx: the headline and body as they will look, while the marketer types."""

    def post(self, request):
        body = request.POST.get("body_markdown", "")[:MAX_BODY_MARKDOWN]
        return render(request, "capture/pages/_preview.html", {
            "headline": request.POST.get("headline", "")[:300],
            "body_html": render_markdown(body),
        })
