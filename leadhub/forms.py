"""Forms for the settings pages. They collect and shape input; the rules (unique
usernames, password strength, the admin guard rails) live in leadhub.services, whose
ValidationErrors the views put back on these forms with ``add_service_errors``."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Field, Layout, Row
from django import forms
from django.core.exceptions import ValidationError

from leadhub.models import User
from leadhub.roles import ROLES
from leadhub.selectors import NO_ROLE, users_without_token

_username_field = User._meta.get_field("username")


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: beside the field it names when the
    form has that field, above the form otherwise."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _helper(*layout) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False  # templates write <form> and the buttons
    helper.layout = Layout(*layout)
    return helper


def _name_row() -> Row:
    return Row(
        Column("first_name", css_class="col-md-6"), Column("last_name", css_class="col-md-6")
    )


class AccountForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(
        required=False, help_text="Where LeadHub sends password resets and alerts."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(_name_row(), "email")


class UserFilterForm(forms.Form):
    """The users page's search box and filters (GET; every field optional)."""

    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.SearchInput(attrs={"placeholder": "Name, username or email"}),
    )
    role = forms.ChoiceField(
        required=False,
        choices=[("", "All roles"), *[(r, r) for r in ROLES], (NO_ROLE, "No role")],
    )
    active = forms.ChoiceField(
        required=False,
        choices=[("", "Active and inactive"), ("1", "Active"), ("0", "Inactive")],
    )

    def filters(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        active = {"1": True, "0": False}.get(data.get("active", ""))
        return {"search": data.get("q", ""), "role": data.get("role", ""), "active": active}


class UserCreateForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        help_text=_username_field.help_text,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=[(r, r) for r in ROLES], widget=forms.RadioSelect)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_confirm = forms.CharField(
        label="Password (again)",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            "username",
            _name_row(),
            "email",
            Field("role"),
            Row(Column("password", css_class="col-md-6"),
                Column("password_confirm", css_class="col-md-6")),
            HTML(
                '<p class="form-text mt-n2">Leave both password fields empty and LeadHub '
                "generates a strong password, shown to you once after you save. A typed "
                "password must pass the usual rules: at least 8 characters, not common, not "
                "all digits, not like the username.</p>"
            ),
        )

    def clean(self):
        data = super().clean()
        password, confirm = data.get("password", ""), data.get("password_confirm", "")
        if password != confirm:
            self.add_error("password_confirm", "The two passwords don't match.")
        return data


class UserEditForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(
        choices=[*[(r, r) for r in ROLES], ("", "No role (can sign in, but sees no leads)")],
        required=False,
        widget=forms.RadioSelect,
    )
    is_active = forms.BooleanField(
        label="Active",
        required=False,
        help_text="Inactive users can't sign in and their API token is refused; "
        "their leads and history stay.",
    )

    def __init__(self, *args, user: User, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "first_name": user.first_name,
                "last_name": user.last_name,
                "email": user.email,
                "role": user.role,
                "is_active": user.is_active,
            },
        )
        super().__init__(*args, **kwargs)
        if user.is_superuser:
            self.fields["role"].disabled = True
            self.fields["role"].help_text = (
                "A superuser has every permission whatever their role; "
                "change that in the Django admin."
            )
        self.helper = _helper(_name_row(), "email", "role", "is_active")


class TokenCreateForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.none(),
        empty_label="Choose a user…",
        help_text="The token acts as this user, with their role's permissions. For an "
        "integration, create a user for it first (for example “crm-sync”).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = users_without_token()
        self.fields["user"].label_from_instance = _user_label
        self.helper = _helper("user")


def _user_label(user: User) -> str:
    role = user.role or "no role"
    if user.display_name != user.username:
        return f"{user.display_name} ({user.username}, {role})"
    return f"{user.username} ({role})"
