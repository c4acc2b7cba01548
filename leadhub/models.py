from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """A person who signs in to LeadHub. Their role is a Django group (see roles.py)."""

    class Meta:
        ordering = ["username"]
        constraints = [
            # "Sam" and "sam" are one person to everyone reading a list of owners.
            models.UniqueConstraint(
                Lower("username"),
                name="leadhub_user_username_lower_uniq",
                violation_error_message="A user with that username already exists.",
            )
        ]

    @property
    def role(self) -> str:
        from leadhub.roles import role_of

        return role_of(self)

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class Capability(models.Model):
    """Permissions on areas of the product rather than on one model's rows.

    There is no table: Django hangs permissions on a model, and these belong to no
    single model (a marketer "manages forms" across Form, FormField and LandingPage).
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("manage_forms", "Can build forms and landing pages"),
            ("manage_scoring", "Can edit scoring and grading rules"),
            ("manage_nurture", "Can edit nurture sequences"),
            ("work_pipeline", "Can move leads between stages and assign owners"),
            ("manage_users", "Can manage users, roles and API tokens"),
        ]

    def __str__(self) -> str:
        return "LeadHub capability"
