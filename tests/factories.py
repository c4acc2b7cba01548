from datetime import date

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
    FormViews,
    LandingPage,
    LandingPageVariant,
    Lead,
    PageStatus,
    Segment,
    Stage,
    Submission,
    TrackingSite,
    Visitor,
    VisitorEvent,
)
from leadhub.models import User
from leadhub.roles import ADMIN, MARKETER, SALES_REP
from pipeline.models import StageTransition

# leadhub.Capability has no factory: it is unmanaged (managed=False) and has no table, only
# the area permissions Django hangs on it, so there is no row to make.


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


class SegmentFactory(factory.django.DjangoModelFactory):
    """A saved segment: the MQLs (``params`` as capture.segments.lead_filter_params gives
    them)."""

    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    params = factory.LazyFunction(lambda: {"stage": ["mql"]})


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


class FormViewsFactory(factory.django.DjangoModelFactory):
    """Today's view count of a form (no variant). One row per (form, variant, day), as
    the counter keeps them: asking for an existing one gets that row."""

    class Meta:
        model = FormViews
        django_get_or_create = ("form", "variant", "day")

    variant = None
    form = factory.Maybe("variant", factory.SelfAttribute("variant.form"),
                         factory.SubFactory(FormFactory))
    day = factory.LazyFunction(date.today)
    views = 10


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


class VisitorEventFactory(factory.django.DjangoModelFactory):
    """An anonymous visitor's page view on a tracking site."""

    class Meta:
        model = VisitorEvent

    visitor = factory.SubFactory(VisitorFactory)
    site = factory.SubFactory(TrackingSiteFactory)
    kind = ActivityKind.PAGE_VIEWED
    data = factory.LazyFunction(lambda: {"url": "https://www.example.com/pricing"})
    occurred_at = factory.LazyFunction(timezone.now)


# --- Settings rows (one row each, pk=1) -----------------------------------------------------


class SingletonFactory(factory.django.DjangoModelFactory):
    """Base of the factories for a settings model's one row (pk=1, which ``load()`` reads).

    Every call returns that row, made if missing (scoring's comes from a migration) and
    otherwise updated: ``PipelineSettingsFactory(sla_minutes=5)`` always means "the
    settings now say 5". Only the fields the factory declares or the call names are
    written; the rest keep their value.
    """

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        manager = cls._get_manager(model_class)
        obj, _ = manager.update_or_create(pk=1, defaults=kwargs)
        return obj


# --- Scoring --------------------------------------------------------------------------------


def _category(key: str):
    from scoring.models import ScoreCategory  # scoring's section keeps to itself

    return ScoreCategory.objects.get(key=key)


def _new_rules_stamp() -> str:
    from scoring.models import new_rules_stamp

    return new_rules_stamp()


class ScoreCategoryFactory(factory.django.DjangoModelFactory):
    """A new category; ``ScoreCategoryFactory(key="engagement")`` gets a built-in one (the
    migration makes engagement, intent and product_usage)."""

    class Meta:
        model = "scoring.ScoreCategory"
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"category_{n}")
    name = factory.Sequence(lambda n: f"Category {n}")
    position = factory.Sequence(lambda n: n + 10)


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


class RescoreBatchFactory(factory.django.DjangoModelFactory):
    """A pending batch of a rescore job; successive batches cover successive id ranges."""

    class Meta:
        model = "scoring.RescoreBatch"

    job = factory.SubFactory(RescoreJobFactory)
    lo = factory.Sequence(lambda n: n * 1000 + 1)
    hi = factory.LazyAttribute(lambda b: b.lo + 999)


class ScoreContributionFactory(factory.django.DjangoModelFactory):
    """What a behaviour rule earned for one of the lead's activities (its full points)."""

    class Meta:
        model = "scoring.ScoreContribution"

    lead = factory.SubFactory(LeadFactory)
    rule = factory.SubFactory(RuleFactory)
    activity = factory.SubFactory(ActivityFactory, lead=factory.SelfAttribute("..lead"))
    points = factory.SelfAttribute("rule.points")
    occurred_at = factory.SelfAttribute("activity.occurred_at")


class LeadScoreFactory(factory.django.DjangoModelFactory):
    """A lead's scoring state (one per lead: it is the row's primary key)."""

    class Meta:
        model = "scoring.LeadScore"

    lead = factory.SubFactory(LeadFactory)
    fit_score = 0
    categories = factory.LazyFunction(dict)


class ScoringSettingsFactory(SingletonFactory):
    """The scoring settings row, with a new rules stamp (so cached rules are reloaded, as
    after ``scoring.services.settings_update``)."""

    class Meta:
        model = "scoring.ScoringSettings"

    rules_stamp = factory.LazyFunction(_new_rules_stamp)


# --- Pipeline: deals, notes, tasks, reasons, settings ---------------------------------------


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "pipeline.Deal"

    lead = factory.SubFactory(LeadFactory)


class LeadMilestoneFactory(factory.django.DjangoModelFactory):
    """A lead's first moves into funnel stages as lead_change_stage records them: made an
    MQL an hour after it was created (the copies of created_at and source are the
    lead's). Only for tests of readers: moving a lead writes the real row."""

    class Meta:
        model = "pipeline.LeadMilestone"

    lead = factory.SubFactory(LeadFactory)
    lead_created_at = factory.LazyAttribute(lambda row: row.lead.created_at)
    source = factory.LazyAttribute(lambda row: row.lead.source)
    mql_at = factory.LazyAttribute(lambda row: row.lead.created_at + timezone.timedelta(hours=1))


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


class PipelineSettingsFactory(SingletonFactory):
    """The pipeline settings row (model defaults unless named: no BANT required, 5-minute
    SLA, reps may move others' leads)."""

    class Meta:
        model = "pipeline.PipelineSettings"


class StageLimitFactory(factory.django.DjangoModelFactory):
    """One limit per stage (``stage`` is unique): calls take the board's stages in turn,
    and asking for a stage that has a limit gets that row."""

    class Meta:
        model = "pipeline.StageLimit"
        django_get_or_create = ("stage",)

    stage = factory.Iterator([Stage.LEAD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY])
    stale_after_days = 7


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


class SegmentWatchFactory(factory.django.DjangoModelFactory):
    """A sequence watching a segment, not yet primed (nurture.services.segments)."""

    class Meta:
        model = "nurture.SegmentWatch"

    sequence = factory.SubFactory(SequenceFactory)
    segment = factory.SubFactory(SegmentFactory)


class SegmentMatchFactory(factory.django.DjangoModelFactory):
    """A lead its watch has seen in the segment."""

    class Meta:
        model = "nurture.SegmentMatch"

    watch = factory.SubFactory(SegmentWatchFactory)
    lead = factory.SubFactory(LeadFactory)


class EnrollmentFactory(factory.django.DjangoModelFactory):
    """An active enrollment with nothing due (set next_step/next_due_at, or enroll with
    nurture.services, for the dispatcher to send)."""

    class Meta:
        model = "nurture.Enrollment"

    sequence = factory.SubFactory(SequenceFactory)
    lead = factory.SubFactory(LeadFactory)
    state = "active"
    source = "manual"


class EmailMessageFactory(factory.django.DjangoModelFactory):
    """A queued email of a new step of the enrollment's sequence, to its lead."""

    class Meta:
        model = "nurture.EmailMessage"

    enrollment = factory.SubFactory(EnrollmentFactory)
    sequence = factory.SelfAttribute("enrollment.sequence")
    lead = factory.SelfAttribute("enrollment.lead")
    step = factory.SubFactory(StepFactory, sequence=factory.SelfAttribute("..sequence"))
    to_email = factory.SelfAttribute("lead.email")
    to_domain = factory.LazyAttribute(lambda m: m.to_email.rpartition("@")[2].lower())
    subject = factory.LazyAttribute(lambda m: f"Hello {m.lead.first_name or 'there'}")
    status = "queued"


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "nurture.Suppression"

    email = factory.Sequence(lambda n: f"suppressed{n}@example.com")
    reason = "manual"


class SendingSettingsFactory(SingletonFactory):
    """The sending settings row: a From address and the footer's postal address."""

    class Meta:
        model = "nurture.SendingSettings"

    from_name = "Acme Team"
    from_email = "news@acme.test"
    postal_address = "Acme Inc., 1 Main Street, Springfield"


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


class NotificationFactory(factory.django.DjangoModelFactory):
    """An unread in-app notification: ``NotificationFactory(recipient=rep, lead=lead)``."""

    class Meta:
        model = "pipeline.Notification"

    recipient = factory.SubFactory(SalesRepFactory)
    lead = factory.SubFactory(LeadFactory)
    kind = "mql_assigned"
    text = factory.LazyAttribute(lambda n: f"{n.lead} became an MQL and is now yours.")


class EmailClickFactory(factory.django.DjangoModelFactory):
    """A click on a tracked link of a sent message, waiting to become an activity."""

    class Meta:
        model = "nurture.EmailClick"

    message = factory.SubFactory(EmailMessageFactory, status="sent")
    url = "https://www.example.com/guide"
