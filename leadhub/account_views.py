"""Settings pages: your own account for everyone; users and API tokens for admins.

Views are thin: they read through leadhub.selectors, write through leadhub.services and
put the services' ValidationErrors back on the form.

Secrets (a generated password, a token key) are rendered into the response to the POST
that made them and nowhere else: not into a flash message (the cookie or session would
keep them) and not into a URL. Those responses are marked not to be cached.
"""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views import View
from django.views.generic import ListView
from rest_framework.authtoken.models import Token

from leadhub import selectors, services
from leadhub.forms import (
    AccountForm,
    TokenCreateForm,
    UserCreateForm,
    UserEditForm,
    UserFilterForm,
    add_service_errors,
)
from leadhub.models import User
from leadhub.roles import ROLES


def _render_secret(request, template_name: str, context: dict):
    response = render(request, template_name, context)
    add_never_cache_headers(response)
    return response


class ManageUsersMixin(LoginRequiredMixin, PermissionRequiredMixin):
    """Signed-out visitors go to the login page; signed-in users without the
    permission get 403."""

    permission_required = "leadhub.manage_users"


# --- Your account -------------------------------------------------------------------------


class AccountView(LoginRequiredMixin, View):
    template_name = "leadhub/account.html"

    def get(self, request):
        user = request.user
        form = AccountForm(
            initial={"first_name": user.first_name, "last_name": user.last_name,
                     "email": user.email}
        )
        return self._render(form)

    def post(self, request):
        form = AccountForm(request.POST)
        if form.is_valid():
            try:
                services.user_update(user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                request.user.refresh_from_db()
                add_service_errors(form, exc)
            else:
                messages.success(request, "Your account details are saved.")
                return redirect("settings:index")
        return self._render(form, status=400)

    def _render(self, form, status: int = 200):
        user = self.request.user
        context = {
            "form": form,
            "role": user.role,
            "capabilities": selectors.capabilities_of(user),
            "section": "account",
        }
        if not user.role:
            context["admins"] = selectors.active_admins().order_by("username")
        if user.has_perm("leadhub.manage_users"):
            context["counts"] = selectors.user_counts()
        return render(self.request, self.template_name, context, status=status)


# --- Users --------------------------------------------------------------------------------


class UserListView(ManageUsersMixin, ListView):
    template_name = "leadhub/user_list.html"
    context_object_name = "users"
    paginate_by = 25

    def get_queryset(self):
        self.filter_form = UserFilterForm(self.request.GET)
        return selectors.user_list(**self.filter_form.filters())

    def get_template_names(self):
        # The search box swaps only the results with htmx as you type; a history restore
        # (back button after htmx pushed the URL) needs the whole page.
        htmx = self.request.htmx
        if htmx and not htmx.history_restore_request:
            return ["leadhub/includes/user_table.html"]
        return [self.template_name]

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        patch_vary_headers(response, ["HX-Request"])
        return response

    def get_context_data(self, **kwargs):
        query = self.request.GET.copy()
        query.pop("page", None)
        return super().get_context_data(
            filter_form=self.filter_form,
            query=query.urlencode(),
            section="users",
            **kwargs,
        )


def _role_help() -> list[tuple[str, list[str]]]:
    return [(role, selectors.role_summary(role)) for role in ROLES]


class UserCreateView(ManageUsersMixin, View):
    template_name = "leadhub/user_form.html"

    def get(self, request):
        return self._render(UserCreateForm())

    def post(self, request):
        form = UserCreateForm(request.POST)
        if not form.is_valid():
            return self._render(form, status=400)
        data = form.cleaned_data
        generated = not data["password"]
        password = services.password_generate() if generated else data["password"]
        try:
            user = services.user_create(
                username=data["username"],
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                role=data["role"],
                password=password,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self._render(form, status=400)
        if not generated:
            messages.success(request, f"Created {user.username} as {user.role}.")
            return redirect("settings:user_list")
        return _render_secret(
            request,
            "leadhub/user_password.html",
            {"target": user, "password": password, "created": True, "section": "users"},
        )

    def _render(self, form, status: int = 200):
        context = {"form": form, "role_help": _role_help(), "section": "users"}
        return render(self.request, self.template_name, context, status=status)


class UserEditView(ManageUsersMixin, View):
    template_name = "leadhub/user_form.html"

    def get(self, request, pk: int):
        target = get_object_or_404(User, pk=pk)
        return self._render(target, UserEditForm(user=target))

    def post(self, request, pk: int):
        target = get_object_or_404(User, pk=pk)
        form = UserEditForm(request.POST, user=target)
        if not form.is_valid():
            return self._render(target, form, status=400)
        data = form.cleaned_data
        try:
            # All or nothing: a refused deactivation must not leave a new role behind.
            with transaction.atomic():
                services.user_update(
                    user=target,
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    email=data["email"],
                )
                if not form.fields["role"].disabled:
                    services.user_set_role(user=target, role=data["role"], actor=request.user)
                services.user_set_active(
                    user=target, is_active=data["is_active"], actor=request.user
                )
        except ValidationError as exc:
            target.refresh_from_db()
            add_service_errors(form, exc)
            return self._render(target, form, status=400)
        messages.success(request, f"Saved {target.username}.")
        return redirect("settings:user_list")

    def _render(self, target: User, form, status: int = 200):
        context = {
            "form": form,
            "target": target,
            "token": Token.objects.filter(user=target).first(),
            "role_help": _role_help(),
            "section": "users",
        }
        return render(self.request, self.template_name, context, status=status)


class UserPasswordResetView(ManageUsersMixin, View):
    """GET asks for confirmation; POST sets a generated password and shows it once."""

    template_name = "leadhub/user_password_reset.html"

    def get(self, request, pk: int):
        target = get_object_or_404(User, pk=pk)
        return render(request, self.template_name, {"target": target, "section": "users"})

    def post(self, request, pk: int):
        target = get_object_or_404(User, pk=pk)
        try:
            password = services.user_reset_password(user=target, actor=request.user)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return redirect("settings:user_edit", pk=target.pk)
        return _render_secret(
            request,
            "leadhub/user_password.html",
            {"target": target, "password": password, "created": False, "section": "users"},
        )


# --- API tokens ---------------------------------------------------------------------------


def _token_created(request, token: Token, *, regenerated: bool):
    return _render_secret(
        request,
        "leadhub/token_created.html",
        {
            "token": token,
            "regenerated": regenerated,
            "api_url": request.build_absolute_uri("/api/v1/leads/"),
            "section": "tokens",
        },
    )


class TokenListView(ManageUsersMixin, ListView):
    template_name = "leadhub/token_list.html"
    context_object_name = "tokens"
    paginate_by = 50

    def get_queryset(self):
        return selectors.token_list()

    def get_context_data(self, **kwargs):
        return super().get_context_data(section="tokens", **kwargs)


class TokenCreateView(ManageUsersMixin, View):
    template_name = "leadhub/token_form.html"

    def get(self, request):
        initial = {}
        if user_id := request.GET.get("user", "").strip():
            initial["user"] = user_id
        return self._render(TokenCreateForm(initial=initial))

    def post(self, request):
        form = TokenCreateForm(request.POST)
        if not form.is_valid():
            return self._render(form, status=400)
        try:
            token = services.token_create(user=form.cleaned_data["user"])
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self._render(form, status=400)
        return _token_created(request, token, regenerated=False)

    def _render(self, form, status: int = 200):
        return render(
            self.request, self.template_name, {"form": form, "section": "tokens"}, status=status
        )


class _TokenActionView(ManageUsersMixin, View):
    """GET: a page asking to confirm; POST: do it. Tokens are found by their user's id,
    because a token's primary key is its secret key."""

    action = ""  # "regenerate" or "revoke"
    template_name = "leadhub/token_confirm.html"

    def get(self, request, user_id: int):
        token = get_object_or_404(Token.objects.select_related("user"), user_id=user_id)
        return render(
            request,
            self.template_name,
            {"token": token, "action": self.action, "section": "tokens"},
        )


class TokenRegenerateView(_TokenActionView):
    action = "regenerate"

    def post(self, request, user_id: int):
        token = get_object_or_404(Token.objects.select_related("user"), user_id=user_id)
        return _token_created(request, services.token_regenerate(token=token), regenerated=True)


class TokenRevokeView(_TokenActionView):
    action = "revoke"

    def post(self, request, user_id: int):
        token = get_object_or_404(Token.objects.select_related("user"), user_id=user_id)
        user = token.user
        services.token_revoke(token=token)
        messages.success(
            request,
            f"Revoked the API token of {user.display_name}. Requests with it now get 401.",
        )
        return redirect("settings:token_list")
