"""The demo data seeds sensible default rules and its scores and grades come from them."""

from io import StringIO

import pytest
from django.core.management import call_command

from capture.models import Lead, Stage
from pipeline.models import StageTransition
from scoring import services
from scoring.models import Rule, ScoringSettings
from tests.factories import RuleFactory

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_the_default_rules_and_scores_by_them():
    call_command("demo_data", "--count", "40", stdout=StringIO())

    rules = {r.name: r for r in Rule.objects.select_related("category")}
    assert rules["Viewed the pricing page"].points == 10
    assert rules["Downloaded the ebook"].points == 5
    assert rules["Downloaded a lead magnet"].activity_kind == "lead_magnet_downloaded"
    assert rules["VP or Director"].points == 15 and rules["VP or Director"].kind == "fit"
    assert rules["Free-mail address"].points == -5
    opens = rules["5 email opens in a week"]
    assert (opens.points, opens.count, opens.window_days) == (20, 5, 7)
    settings = ScoringSettings.load()
    assert (settings.mql_score, settings.mql_min_grade) == (75, "B")

    # Every score and grade is the rules' own: rescoring again changes nothing.
    assert Lead.objects.exclude(score=0).exists()
    assert not Lead.objects.filter(grade="").exists()
    transitions = StageTransition.objects.count()
    job = services.rescore_run_inline()
    assert (job.scores_changed, job.grades_changed) == (0, 0)
    assert StageTransition.objects.count() == transitions  # the planned stages stand
    assert Lead.objects.filter(stage=Stage.MQL).exists()


def test_the_demo_leaves_a_marketers_rules_alone():
    RuleFactory(name="Mine", points=3)

    call_command("demo_data", "--count", "5", stdout=StringIO())

    assert list(Rule.objects.values_list("name", flat=True)) == ["Mine"]
