"""/settings/: your account (everyone signed in), users and API tokens (admins)."""

from django.urls import path

from leadhub import account_views as views

app_name = "settings"

urlpatterns = [
    path("", views.AccountView.as_view(), name="index"),
    path("users/", views.UserListView.as_view(), name="user_list"),
    path("users/new/", views.UserCreateView.as_view(), name="user_create"),
    path("users/<id:pk>/edit/", views.UserEditView.as_view(), name="user_edit"),
    path(
        "users/<id:pk>/password/",
        views.UserPasswordResetView.as_view(),
        name="user_password_reset",
    ),
    path("tokens/", views.TokenListView.as_view(), name="token_list"),
    path("tokens/new/", views.TokenCreateView.as_view(), name="token_create"),
    path(
        "tokens/<id:user_id>/regenerate/",
        views.TokenRegenerateView.as_view(),
        name="token_regenerate",
    ),
    path("tokens/<id:user_id>/revoke/", views.TokenRevokeView.as_view(), name="token_revoke"),
]
