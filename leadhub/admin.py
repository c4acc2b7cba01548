"""The Django admin for users. Roles are groups: the settings pages are the everyday way
to manage them; the admin is for superusers and the odd repair."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import TokenProxy

from leadhub.models import User
from leadhub.roles import ROLES

admin.site.site_header = "LeadHub administration"
admin.site.site_title = "LeadHub admin"
admin.site.index_title = "Data and users"


class LeadHubUserChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User

    def clean_groups(self):
        groups = self.cleaned_data.get("groups")
        if groups is not None and sum(g.name in ROLES for g in groups) > 1:
            raise forms.ValidationError(
                "A user has one role: choose at most one of " + ", ".join(ROLES) + "."
            )
        return groups


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = LeadHubUserChangeForm
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active",
                    "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "groups")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="role")
    def role(self, obj: User) -> str:
        return obj.role or "—"


# DRF registers its tokens here with the full key in the list, in the "added" message
# (kept in the messages cookie) and on the delete page. Tokens are managed under
# Settings → API tokens, which shows a key once, when it is made.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """The role groups are rewritten from leadhub.roles.ROLE_PERMISSIONS after every
    migrate, so an edit here would silently vanish: they are view-only."""

    def _is_role(self, obj) -> bool:
        return obj is not None and obj.name in ROLES

    def has_change_permission(self, request, obj=None):
        return not self._is_role(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._is_role(obj) and super().has_delete_permission(request, obj)
