import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from capture.models import (
    Activity,
    ActivityKind,
    FieldType,
    Form,
    FormField,
    FormStatus,
    LandingPage,
    LandingPageVariant,
    Lead,
    PageStatus,
    Stage,
    Submission,
    TrackingSite,
    Visitor,
)
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


class FormFactory(factory.django.DjangoModelFactory):
    """A live form with an email field; ``FormFactory(with_fields=True)`` adds the
    issue's example fields (first_name, company, topic select → attributes.topic)."""

    class Meta:
        model = Form
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Form {n}")
    status = FormStatus.LIVE
    allowed_origins = factory.LazyFunction(lambda: ["https://www.example.com"])
    min_seconds = 3

    @factory.post_generation
    def with_fields(self, create, extracted, **kwargs):
        if not create:
            return
        FormFieldFactory(form=self, name="email", type=FieldType.EMAIL, required=True,
                         maps_to="email", label="Email", position=0)
        if extracted:
            FormFieldFactory(form=self, name="first_name", maps_to="first_name",
                             label="First name", position=1)
            FormFieldFactory(form=self, name="company", maps_to="company", label="Company",
                             position=2)
            FormFieldFactory(form=self, name="topic", type=FieldType.SELECT,
                             options=["a", "b"], maps_to="attributes.topic", label="Topic",
                             position=3)


class FormFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FormField

    form = factory.SubFactory(FormFactory)
    name = factory.Sequence(lambda n: f"field_{n}")
    type = FieldType.TEXT
    label = factory.LazyAttribute(lambda f: f.name.replace("_", " ").capitalize())
    position = factory.Sequence(lambda n: n + 10)


class SubmissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Submission

    form = factory.SubFactory(FormFactory)
    lead = factory.SubFactory(LeadFactory)
    channel = "api"
    data = factory.LazyAttribute(lambda s: {"email": s.lead.email if s.lead else "x@example.com"})


class LandingPageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LandingPage

    slug = factory.Sequence(lambda n: f"page-{n}")
    title = factory.Sequence(lambda n: f"Page {n}")
    status = PageStatus.LIVE


class LandingPageVariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LandingPageVariant

    page = factory.SubFactory(LandingPageFactory)
    name = "A"
    headline = "Get the guide"
    body_markdown = "Everything you need to know."
    form = factory.SubFactory(FormFactory)


class TrackingSiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrackingSite

    name = factory.Sequence(lambda n: f"Site {n}")
    allowed_origins = factory.LazyFunction(lambda: ["https://www.example.com"])


class VisitorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visitor


# --- Scoring --------------------------------------------------------------------------------


def _category(key: str):
    from scoring.models import ScoreCategory  # scoring's section keeps to itself

    return ScoreCategory.objects.get(key=key)


class RuleFactory(factory.django.DjangoModelFactory):
    """A behaviour rule (``FitRuleFactory`` for fit). Made rows get a new rules stamp,
    as the services give them, so cached rules are reloaded."""

    class Meta:
        model = "scoring.Rule"

    name = factory.Sequence(lambda n: f"Rule {n}")
    kind = "behavior"
    activity_kind = ActivityKind.PAGE_VIEWED
    category = factory.LazyFunction(lambda: _category("engagement"))
    conditions = factory.LazyFunction(list)
    points = 10

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from scoring.services import rules_changed

        rule = super()._create(model_class, *args, **kwargs)
        rules_changed()
        return rule


class FitRuleFactory(RuleFactory):
    kind = "fit"
    activity_kind = ""
    category = None


class RescoreJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "scoring.RescoreJob"


# --- Pipeline: deals, notes, tasks, reasons -------------------------------------------------


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "pipeline.Deal"

    lead = factory.SubFactory(LeadFactory)


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "pipeline.Note"

    lead = factory.SubFactory(LeadFactory)
    author = factory.SubFactory(SalesRepFactory)
    text = "Called, left a voicemail."


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "pipeline.Task"

    lead = factory.SubFactory(LeadFactory)
    title = "Follow up"
    due_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=1))
    assignee = factory.SubFactory(SalesRepFactory)
    created_by = factory.SelfAttribute("assignee")


class StageReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "pipeline.StageReason"

    kind = "disqualify"
    label = factory.Sequence(lambda n: f"Reason {n}")


# --- Nurture --------------------------------------------------------------------------------


class SequenceFactory(factory.django.DjangoModelFactory):
    """An active sequence (add steps with StepFactory, or use nurture.services)."""

    class Meta:
        model = "nurture.Sequence"

    name = factory.Sequence(lambda n: f"Sequence {n}")
    status = "active"


class StepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "nurture.Step"

    sequence = factory.SubFactory(SequenceFactory)
    position = factory.Sequence(lambda n: n + 1)
    subject = "Hello {{ first_name|default:\"there\" }}"
    body = "Welcome to **LeadHub**. Read [the guide](https://www.example.com/guide)."
    delay_minutes = 0


class TriggerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "nurture.Trigger"

    sequence = factory.SubFactory(SequenceFactory)
    type = "form_submitted"


class AssignmentRuleFactory(factory.django.DjangoModelFactory):
    """``AssignmentRuleFactory(members=[rep1, rep2], countries="DE")``."""

    class Meta:
        model = "pipeline.AssignmentRule"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Rule {n}")
    position = factory.Sequence(lambda n: n)

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            self.members.set(extracted)
