"""Tracking pages: the snippet itself (GET /t.js), the double-opt-in confirmation link
(/confirm/<token>/), both public; and the marketer's tracking sites (/forms/sites/)."""

import hashlib
from functools import lru_cache

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe
from django.views.generic import ListView

from capture.models import TrackingSite, VisitorEvent
from capture.services import optin, tracking

# --- GET /t.js ----------------------------------------------------------------------------

SNIPPET_MAX_AGE = 3600  # a new version reaches every page within the hour


@lru_cache(maxsize=1)
def _snippet() -> tuple[bytes, str]:
    path = finders.find("js/t.js")
    with open(path, "rb") as f:
        body = f.read()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@require_safe
def tracking_js(request):
    """The tracking snippet. Public, cacheable, the same for every site (the site key
    is on the script tag)."""
    body, etag = _snippet()
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={SNIPPET_MAX_AGE}"
    # Loaded by other websites' pages.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# --- /confirm/<token>/ ----------------------------------------------------------------------


def _confirm_page(request, template: str, context: dict, status: int = 200):
    response = render(request, f"capture/public/{template}", context, status=status)
    # The token is a capability: keep it out of caches, Referer headers and indexes.
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _masked(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'•' * min(max(len(local) - 1, 1), 6)}@{domain}"


# A plain GET must not confirm: mail scanners and link previews open every link. The
# token is the capability, and a CSRF token would need a cookie that some mail apps'
# browsers drop, so the POST is exempt.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request, token: str):
    try:
        link = optin.confirmation_read(token)
    except optin.LinkExpired:
        return _confirm_page(request, "confirm_invalid.html", {"expired": True}, status=400)
    except optin.LinkInvalid:
        return _confirm_page(request, "confirm_invalid.html", {"expired": False}, status=404)
    lead = link.lead
    if request.method == "POST":
        optin.lead_confirm(lead=lead, form_id=link.form_id)
        return _confirm_page(request, "confirm_done.html", {"email": _masked(lead.email)})
    if lead.confirmed_at is not None:
        return _confirm_page(request, "confirm_done.html",
                             {"email": _masked(lead.email), "already": True})
    return _confirm_page(request, "confirm.html", {"email": _masked(lead.email)})


# --- Tracking sites (/forms/sites/) ------------------------------------------------------------


class SitesAccess(LoginRequiredMixin, PermissionRequiredMixin):
    """Reading: anyone who reads leads. Changing: those who manage forms."""

    permission_required: tuple[str, ...] = ("capture.view_lead",)


class ManageSites(SitesAccess):
    permission_required = ("leadhub.manage_forms",)


def snippet_for(site: TrackingSite) -> str:
    return f'<script src="{settings.PUBLIC_URL}/t.js" data-site="{site.key}" async></script>'


class SiteForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="For you, e.g. “Main website”.")
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "https://www.example.com"}),
        help_text="The addresses of the website, one per line (scheme and host, e.g. "
        "https://www.example.com). Page views from anywhere else are refused.",
    )

    def origins(self) -> list[str]:
        return self.cleaned_data.get("allowed_origins", "").splitlines()


def _service_errors(form: forms.Form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class SiteListView(SitesAccess, ListView):
    template_name = "capture/sites/list.html"
    context_object_name = "sites"
    paginate_by = 50

    def get_queryset(self):
        return TrackingSite.objects.order_by("name", "id")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(
            can_manage=self.request.user.has_perm("leadhub.manage_forms"), **kwargs
        )
        waiting = _waiting_counts([site.pk for site in context["sites"]])
        for site in context["sites"]:
            site.waiting = waiting.get(site.pk, 0)
        return context


def _waiting_counts(site_ids: list[int]) -> dict[int, int]:
    """Anonymous page views per site, still waiting for their visitor to submit a form."""
    rows = (VisitorEvent.objects.filter(site_id__in=site_ids).order_by().values("site_id")
            .annotate(n=Count("id")).values_list("site_id", "n"))
    return dict(rows)


class SiteDetailView(SitesAccess, View):
    def get(self, request, pk: int):
        site = get_object_or_404(TrackingSite, pk=pk)
        return render(request, "capture/sites/detail.html", {
            "site": site,
            "snippet": snippet_for(site),
            "waiting": _waiting_counts([site.pk]).get(site.pk, 0),
            "can_manage": request.user.has_perm("leadhub.manage_forms"),
        })


class SiteCreateView(ManageSites, View):
    def get(self, request):
        return self._render(SiteForm())

    def post(self, request):
        form = SiteForm(request.POST)
        if form.is_valid():
            try:
                site = tracking.tracking_site_create(
                    name=form.cleaned_data["name"], allowed_origins=form.origins()
                )
            except ValidationError as exc:
                _service_errors(form, exc)
            else:
                messages.success(request, f"Tracking site “{site.name}” created. Paste the "
                                 "snippet below on every page of the website.")
                return redirect("capture:site_detail", site.pk)
        return self._render(form, status=400)

    def _render(self, form, status: int = 200):
        return render(self.request, "capture/sites/form.html", {"form": form, "site": None},
                      status=status)


class SiteUpdateView(ManageSites, View):
    def get(self, request, pk: int):
        site = get_object_or_404(TrackingSite, pk=pk)
        form = SiteForm(initial={"name": site.name,
                                 "allowed_origins": "\n".join(site.allowed_origins)})
        return self._render(site, form)

    def post(self, request, pk: int):
        site = get_object_or_404(TrackingSite, pk=pk)
        form = SiteForm(request.POST)
        if form.is_valid():
            try:
                tracking.tracking_site_update(
                    site=site, name=form.cleaned_data["name"], allowed_origins=form.origins()
                )
            except ValidationError as exc:
                site.refresh_from_db()
                _service_errors(form, exc)
            else:
                messages.success(request, f"Tracking site “{site.name}” saved.")
                return redirect("capture:site_detail", site.pk)
        return self._render(site, form, status=400)

    def _render(self, site, form, status: int = 200):
        return render(self.request, "capture/sites/form.html", {"form": form, "site": site},
                      status=status)


class SiteDeleteView(ManageSites, View):
    def get(self, request, pk: int):
        site = get_object_or_404(TrackingSite, pk=pk)
        return render(request, "capture/sites/confirm_delete.html", {"site": site})

    def post(self, request, pk: int):
        site = get_object_or_404(TrackingSite, pk=pk)
        tracking.tracking_site_delete(site=site)
        messages.success(request, f"Tracking site “{site.name}” deleted; its snippet now "
                         "sends nothing LeadHub keeps.")
        return redirect(reverse("capture:site_list"))
