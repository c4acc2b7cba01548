"""Landing pages in the app (/forms/pages/…), in the "capture" namespace."""

from django.urls import path

from capture.views import pages as views

urlpatterns = [
    path("", views.PageListView.as_view(), name="page_list"),
    path("new/", views.PageCreateView.as_view(), name="page_create"),
    path("preview/", views.MarkdownPreviewView.as_view(), name="page_markdown_preview"),
    path("<id:pk>/", views.PageDetailView.as_view(), name="page_detail"),
    path("<id:pk>/edit/", views.PageUpdateView.as_view(), name="page_update"),
    path("<id:pk>/variants/new/", views.VariantCreateView.as_view(), name="variant_create"),
    path("<id:pk>/variants/<id:variant_pk>/edit/", views.VariantUpdateView.as_view(),
         name="variant_update"),
    path("<id:pk>/variants/<id:variant_pk>/delete/", views.VariantDeleteView.as_view(),
         name="variant_delete"),
    path("<id:pk>/variants/<id:variant_pk>/preview/", views.VariantPreviewView.as_view(),
         name="variant_preview"),
]
