"""Every model of LeadHub's apps has a factory in tests.factories, and every factory there
makes a valid row: a new one per call, or the one row of a settings model."""

import inspect

import factory
import pytest
from django.apps import apps

from tests import factories

APPS = ("leadhub", "capture", "scoring", "nurture", "pipeline")

# Models that cannot have a factory, and why. Each must be unmanaged (see below), so this
# list cannot hide a model that has a table.
NO_FACTORY = {
    "leadhub.Capability": "no table: it only holds the area permissions",
}


def _models() -> list:
    """The apps' concrete models. Proxies (BehaviorRule, FitRule) share their concrete
    model's table and factory; auto-created many-to-many tables are left out."""
    return [model for label in APPS for model in apps.get_app_config(label).get_models()
            if not model._meta.proxy]


def _factories() -> list:
    return [obj for _, obj in inspect.getmembers(factories, inspect.isclass)
            if issubclass(obj, factory.django.DjangoModelFactory) and not obj._meta.abstract]


def _model_of(factory_class):
    return factory_class._meta.get_model_class()._meta.concrete_model


MODELS = _models()
FACTORIES = [f for f in _factories() if _model_of(f) in MODELS]


@pytest.mark.parametrize("model", [m for m in MODELS if m._meta.label not in NO_FACTORY],
                         ids=lambda m: m._meta.label)
def test_every_model_has_a_factory(model):
    assert any(_model_of(f) is model for f in FACTORIES), (
        f"{model._meta.label} has no factory in tests/factories.py: add one "
        "(or, if it has no table, list it in NO_FACTORY with the reason)")


@pytest.mark.parametrize("label", sorted(NO_FACTORY))
def test_the_models_without_a_factory_have_no_table(label):
    model = apps.get_model(label)
    assert not model._meta.managed
    assert model._meta.app_label in APPS


@pytest.mark.django_db
@pytest.mark.parametrize("factory_class", FACTORIES, ids=lambda f: f.__name__)
def test_the_factory_saves_a_valid_row(factory_class):
    model = _model_of(factory_class)
    rows = model._base_manager

    first = factory_class()
    second = factory_class()

    for obj in (first, second):
        assert obj.pk is not None
        obj.full_clean()
    if issubclass(factory_class, factories.SingletonFactory):
        assert first.pk == second.pk == 1
        assert model.load().pk == 1
        assert rows.count() == 1
    else:
        assert first.pk != second.pk
        assert rows.filter(pk__in=[first.pk, second.pk]).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(("factory_class", "field", "value"), [
    (factories.ScoringSettingsFactory, "mql_score", 50),
    (factories.SendingSettingsFactory, "from_name", "Beta Team"),
    (factories.PipelineSettingsFactory, "sla_minutes", 9),
], ids=lambda v: v.__name__ if inspect.isclass(v) else None)
def test_a_settings_factory_updates_the_one_row(factory_class, field, value):
    model = _model_of(factory_class)
    factory_class()

    factory_class(**{field: value})

    assert getattr(model.load(), field) == value
    assert model._base_manager.count() == 1


@pytest.mark.django_db
def test_a_scoring_settings_factory_gives_a_new_rules_stamp():
    from scoring.models import ScoringSettings

    before = ScoringSettings.load().rules_stamp
    assert factories.ScoringSettingsFactory().rules_stamp not in ("", before)
    assert ScoringSettings.load().rules_stamp != before


@pytest.mark.django_db
def test_a_factory_keyed_on_a_unique_field_gets_the_existing_row():
    from pipeline.models import StageLimit

    engagement = factories.ScoreCategoryFactory(key="engagement")
    assert engagement.name == "Engagement"  # the migration's row
    assert factories.StageLimitFactory(stage="sql").pk == (
        factories.StageLimitFactory(stage="sql").pk)
    assert StageLimit.objects.count() == 1
