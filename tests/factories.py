import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from capture.models import Activity, ActivityKind, Lead, Stage
from leadhub.models import User
from leadhub.roles import ADMIN, MARKETER, SALES_REP
from pipeline.models import StageTransition


class UserFactory(factory.django.DjangoModelFactory):
    """``UserFactory(role=MARKETER)`` puts the user in that role's group."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@leadhub.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        name = extracted or kwargs.get("default")
        if create and name:
            self.groups.add(Group.objects.get(name=name))


class MarketerFactory(UserFactory):
    role__default = MARKETER


class SalesRepFactory(UserFactory):
    role__default = SALES_REP


class AdminFactory(UserFactory):
    role__default = ADMIN


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    company = factory.Faker("company")
    job_title = factory.Faker("job")
    stage = Stage.LEAD
    source = "manual"


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    lead = factory.SubFactory(LeadFactory)
    kind = ActivityKind.PAGE_VIEWED
    data = factory.LazyFunction(lambda: {"url": "https://www.example.com/pricing"})
    occurred_at = factory.LazyFunction(timezone.now)


class StageTransitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StageTransition

    lead = factory.SubFactory(LeadFactory)
    from_stage = Stage.LEAD
    to_stage = Stage.MQL
    by_system = "scoring"
