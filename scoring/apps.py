import secrets

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def seed_defaults(sender, using="default", apps=None, **kwargs) -> None:
    """The settings row and the built-in score categories, when missing.

    Migration 0002 seeds them on a new database; this puts them back after a ``flush``
    (which emits post_migrate, as the roles rely on too), so an emptied database is a
    working one. Categories a marketer deleted are not brought back while any remain.
    """
    if apps is None:  # flush sends no migration state: the models are as they are
        from django.apps import apps
    try:  # the state the migrations left: no table when migrated back to zero
        ScoreCategory = apps.get_model("scoring", "ScoreCategory")
        ScoringSettings = apps.get_model("scoring", "ScoringSettings")
    except LookupError:
        return
    ScoringSettings.objects.using(using).get_or_create(
        pk=1, defaults={"rules_stamp": secrets.token_hex(8)})
    if ScoreCategory.objects.using(using).exists():
        return
    ScoreCategory.objects.using(using).bulk_create(
        [ScoreCategory(key=key, name=name, position=position)
         for key, name, position in BUILT_IN_CATEGORIES],
        ignore_conflicts=True,
    )


BUILT_IN_CATEGORIES = [("engagement", "Engagement", 1), ("intent", "Intent", 2),
                       ("product_usage", "Product usage", 3)]


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        post_migrate.connect(seed_defaults, sender=self, dispatch_uid="scoring.seed_defaults")
