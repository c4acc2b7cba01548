"""An emptied database (``manage.py flush``, or a transactional test before this one)
still scores: post_migrate puts the settings row and the built-in categories back."""

import pytest
from django.core.management.sql import emit_post_migrate_signal

from scoring.models import ScoreCategory, ScoringSettings

pytestmark = pytest.mark.django_db


def test_post_migrate_puts_back_the_settings_row_and_the_built_in_categories():
    ScoringSettings.objects.all().delete()
    ScoreCategory.objects.all().delete()

    emit_post_migrate_signal(0, False, "default")

    assert ScoringSettings.objects.filter(pk=ScoringSettings.SINGLETON_ID).exists()
    assert set(ScoreCategory.objects.values_list("key", flat=True)) == {
        "engagement", "intent", "product_usage"}


def test_it_leaves_a_marketers_categories_alone():
    ScoreCategory.objects.exclude(key="intent").delete()
    before = ScoringSettings.load().rules_stamp

    emit_post_migrate_signal(0, False, "default")

    assert list(ScoreCategory.objects.values_list("key", flat=True)) == ["intent"]
    assert ScoringSettings.load().rules_stamp == before
