"""The demo's marketing content, so the quick start shows each part working together: a
live ebook form, its landing page (two variants), and an active two-step sequence that
the form's submissions enter. All made through the apps' own services; made once (a
database with any form already is left alone)."""

from dataclasses import dataclass

from django.db import transaction

from capture.models import Form, FormStatus
from capture.services import form_create
from capture.services.pages import page_create, variant_create
from nurture.services.sequences import sequence_create

PAGE_SLUG = "lead-scoring-playbook"

FIELDS = [
    {"name": "email", "type": "email", "label": "Work email", "required": True,
     "maps_to": "email"},
    {"name": "first_name", "type": "text", "label": "First name", "maps_to": "first_name"},
    {"name": "company", "type": "text", "label": "Company", "maps_to": "company"},
    {"name": "job_title", "type": "text", "label": "Job title", "maps_to": "job_title"},
    {"name": "team_size", "type": "select", "label": "Team size",
     "options": ["1–10", "11–50", "51–200", "200+"], "maps_to": "attributes.team_size"},
]

BODY = """Most lead scores are a number nobody trusts. This short guide shows how to build
one your sales team will act on:

- which behaviour predicts a deal (and which only looks busy),
- how to grade fit without a data team,
- when to hand a lead to sales, and what to do when sales hands it back.
"""

STEPS = [
    {"subject": "Your lead-scoring playbook, {{ first_name|default:\"there\" }}",
     "body": "Hi {{ first_name|default:\"there\" }},\n\nThanks for asking for the playbook. "
             "Start with chapter 2: it takes ten minutes and changes how you read every "
             "score.\n\nThe LeadHub team",
     "delay_minutes": 0},
    {"subject": "How {{ company|default:\"teams like yours\" }} can score leads in a week",
     "body": "Hi {{ first_name|default:\"there\" }},\n\nA week after the playbook, most "
             "teams ask the same thing: where do I start? Pick three behaviours that came "
             "before your last five deals and give them points. That is your first rule.\n\n"
             "The LeadHub team",
     "delay_minutes": 3 * 24 * 60},
]


@dataclass(frozen=True)
class DemoContent:
    form: Form
    page_slug: str
    sequence_name: str


@transaction.atomic
def demo_content_ensure() -> DemoContent | None:
    """The form, page and sequence; None when the database has forms already."""
    if Form.objects.exists():
        return None
    form = form_create(
        name="Ebook: the lead-scoring playbook",
        status=FormStatus.LIVE,
        fields=FIELDS,
        thank_you_message="Thanks! The playbook is on its way to your inbox.",
    )
    page = page_create(slug=PAGE_SLUG, title="The lead-scoring playbook", status="live",
                       meta_description="A short guide to lead scores sales will act on.")
    variant_create(page=page, name="A", form=form,
                   headline="Lead scores your sales team will trust", body_markdown=BODY)
    variant_create(page=page, name="B", form=form,
                   headline="Stop guessing which leads are ready", body_markdown=BODY)
    sequence = sequence_create(
        name="Playbook follow-up",
        status="active",
        triggers=[{"type": "form_submitted", "form": form.pk}],
        exit_on_stage="sql",
        steps=STEPS,
    )
    return DemoContent(form=form, page_slug=page.slug, sequence_name=sequence.name)
