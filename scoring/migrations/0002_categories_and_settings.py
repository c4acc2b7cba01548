"""The three built-in score categories and the settings row (marketers add categories
and edit the settings; nothing else creates that row)."""

import secrets

from django.db import migrations

CATEGORIES = [("engagement", "Engagement", 1), ("intent", "Intent", 2),
              ("product_usage", "Product usage", 3)]


def seed(apps, schema_editor):
    category = apps.get_model("scoring", "ScoreCategory")
    for key, name, position in CATEGORIES:
        category.objects.get_or_create(key=key, defaults={"name": name, "position": position})
    apps.get_model("scoring", "ScoringSettings").objects.get_or_create(
        pk=1, defaults={"rules_stamp": secrets.token_hex(8)})


def unseed(apps, schema_editor):
    apps.get_model("scoring", "ScoringSettings").objects.filter(pk=1).delete()
    apps.get_model("scoring", "ScoreCategory").objects.filter(
        key__in=[key for key, _, _ in CATEGORIES], rules__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("scoring", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
