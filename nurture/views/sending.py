"""Sending settings (who nurture mail is from, the footer's postal address) and the
suppression list (addresses no sequence may mail)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from nurture.forms import SendingSettingsForm, SuppressionForm
from nurture.models import SendingSettings, Suppression, SuppressionReason
from nurture.services import suppression_add
from nurture.services.ui_actions import sending_settings_update, suppression_remove
from nurture.views.common import ManageNurtureAccess, NurtureAccess

SUPPRESSIONS_PER_PAGE = 50


class SendingSettingsView(NurtureAccess, View):
    def get(self, request):
        return self.show(SendingSettingsForm(instance=SendingSettings.load()))

    def post(self, request):
        self.require_manage()
        form = SendingSettingsForm(request.POST, instance=SendingSettings.load())
        if form.is_valid():
            try:
                sending_settings_update(**form.cleaned_data)
            except ValidationError as exc:
                for key, errors in exc.message_dict.items():
                    form.add_error(key if key in form.fields else None, errors)
            else:
                messages.success(request, "Sending settings saved.")
                return redirect("nurture:settings")
        return self.show(form, status=400)

    def show(self, form, status: int = 200):
        if not self.can_manage:
            for field in form.fields.values():
                field.disabled = True
        return render(self.request, "nurture/settings.html",
                      {"form": form, "can_manage": self.can_manage}, status=status)


class SuppressionListView(NurtureAccess, View):
    def get(self, request):
        return self.show(SuppressionForm())

    def show(self, form, status: int = 200):
        q = self.request.GET.get("q", "").strip()[:200]
        suppressions = Suppression.objects.all()
        if q:
            suppressions = suppressions.filter(Q(email__icontains=q) | Q(detail__icontains=q))
        paginator = Paginator(suppressions, SUPPRESSIONS_PER_PAGE)
        page = paginator.get_page(self.request.GET.get("page"))
        return render(self.request, "nurture/suppressions.html", {
            "page_obj": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2),
            "q": q,
            "form": form,
            "can_manage": self.can_manage,
        }, status=status)


class SuppressionAddView(ManageNurtureAccess, SuppressionListView):
    def get(self, request):
        return redirect("nurture:suppressions")

    def post(self, request):
        form = SuppressionForm(request.POST)
        if not form.is_valid():
            return self.show(form, status=400)
        suppression = suppression_add(email=form.cleaned_data["email"],
                                      reason=SuppressionReason.MANUAL,
                                      detail=form.cleaned_data["detail"])
        messages.success(request, f"{suppression.email} is on the suppression list: no "
                                  "sequence will mail it.")
        return redirect("nurture:suppressions")


class SuppressionRemoveView(ManageNurtureAccess, View):
    def post(self, request, pk: int):
        suppression = get_object_or_404(Suppression, pk=pk)
        suppression_remove(suppression=suppression)
        messages.success(request, f"{suppression.email} is off the suppression list.")
        return redirect("nurture:suppressions")
