"""The bell in the navigation bar and the page behind it: each person's notifications
(new MQLs assigned to them, missed speed-to-lead, tasks others gave them)."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from pipeline.models import Notification
from pipeline.services import notifications_mark_read

PER_PAGE = 30
BADGE_MAX = 99


class NotificationListView(LoginRequiredMixin, View):
    def get(self, request):
        mine = Notification.objects.filter(recipient=request.user).select_related("lead")
        unread_only = request.GET.get("unread") == "1"
        shown = mine.filter(read_at__isnull=True) if unread_only else mine
        page = Paginator(shown, PER_PAGE).get_page(request.GET.get("page"))
        return render(request, "pipeline/notifications.html", {
            "page_obj": page,
            "unread_only": unread_only,
            "unread_count": mine.filter(read_at__isnull=True).count(),
        })


class NotificationReadView(LoginRequiredMixin, View):
    """POST: mark all of mine read, or the one named by ``id``; back to where I was."""

    def post(self, request):
        ids = None
        if raw := request.POST.get("id", "").strip():
            ids = [int(raw)] if raw.isascii() and raw.isdigit() and len(raw) <= 18 else []
        notifications_mark_read(user=request.user, ids=ids)
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
            back = "pipeline:notifications"
        return redirect(back)


class NotificationOpenView(LoginRequiredMixin, View):
    """Follow a notification: it is read now, and shows its lead (or the list)."""

    def get(self, request, pk: int):
        notification = get_object_or_404(Notification, pk=pk, recipient=request.user)
        notifications_mark_read(user=request.user, ids=[notification.pk])
        if notification.lead_id:
            return redirect("pipeline:lead_detail", pk=notification.lead_id)
        return redirect("pipeline:notifications")


class NotificationBadgeView(LoginRequiredMixin, View):
    """The bell's unread count, loaded by htmx after the page and every 30 s, so pages
    pay nothing for it and a new MQL shows up wherever the rep is."""

    def get(self, request):
        unread = Notification.objects.filter(recipient=request.user, read_at__isnull=True)
        count = unread.count()
        latest = unread.first() if count else None
        return render(request, "pipeline/_notification_badge.html", {
            "count": count,
            "shown": f"{BADGE_MAX}+" if count > BADGE_MAX else str(count),
            "latest": latest,
        })
