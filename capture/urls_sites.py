"""URLs included under the "capture" namespace (see capture/urls.py): tracking sites,
under /forms/sites/."""

from django.urls import path

from capture.views import tracking as views

urlpatterns = [
    path("", views.SiteListView.as_view(), name="site_list"),
    path("new/", views.SiteCreateView.as_view(), name="site_create"),
    path("<id:pk>/", views.SiteDetailView.as_view(), name="site_detail"),
    path("<id:pk>/edit/", views.SiteUpdateView.as_view(), name="site_update"),
    path("<id:pk>/delete/", views.SiteDeleteView.as_view(), name="site_delete"),
]
