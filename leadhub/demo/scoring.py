"""Sensible default scoring and grading rules for the demo (Brightwave sells revenue
analytics to mid-sized B2B companies), made through scoring.services like a marketer's.

Only when there are no rules yet: a marketer's own rules are never touched. The demo
leads are then rescored from their activities (leadhub.demo.leads), so every demo score
and grade comes from these rules.
"""

from scoring.models import Rule, ScoreCategory
from scoring.services import rule_create, settings_update

from . import vocabulary as v

REGIONS = [country for country, (_, sells_there) in v.COUNTRIES.items() if sells_there]
TARGET_INDUSTRIES = [name for name, (_, fit) in v.INDUSTRIES.items() if fit == 2]
HIGH_INTENT_FORMS = [v.FORMS[key][0] for key in ("demo", "trial", "contact-sales")]

# (name, category key, activity kind, conditions, points, options)
BEHAVIOUR = [
    ("Viewed the pricing page", "intent", "page_viewed",
     [{"field": "url", "op": "contains", "value": "/pricing"}], 10, {"max_times": 3}),
    ("Asked for a demo, a trial or sales", "intent", "form_submitted",
     [{"field": "form_name", "op": "in", "value": HIGH_INTENT_FORMS}], 50, {}),
    ("Read a buyer's page (demo, security, integrations)", "intent", "page_viewed",
     [{"field": "url", "op": "contains_any",
       "value": ["/demo", "/security", "/integrations/"]}], 5, {"max_times": 4}),
    ("Downloaded the ebook", "engagement", "form_submitted",
     [{"field": "form_name", "op": "contains", "value": "playbook"}], 5, {}),
    ("Downloaded a lead magnet", "engagement", "lead_magnet_downloaded", [], 5, {}),
    ("Registered for a webinar", "engagement", "form_submitted",
     [{"field": "form_name", "op": "starts_with", "value": "Webinar"}], 15, {}),
    ("5 email opens in a week", "engagement", "email_opened", [], 20,
     {"count": 5, "window_days": 7}),
    ("Clicked a link in an email", "engagement", "email_clicked", [], 3, {"max_times": 5}),
    ("Visited the website", "engagement", "page_viewed", [], 1,
     {"max_times": 20, "expires_after_days": 30}),
]
FIT = [
    ("VP or Director", [{"field": "job_title", "op": "contains_any",
                         "value": ["VP", "Vice President", "Director"]}], 15),
    ("Executive or head of a team", [{"field": "job_title", "op": "contains_any",
                                      "value": ["CEO", "Founder", "Chief", "Head of"]}], 15),
    ("Target industry", [{"field": "industry", "op": "in", "value": TARGET_INDUSTRIES}], 10),
    ("In a region we sell to", [{"field": "country", "op": "in", "value": REGIONS}], 5),
    ("50 to 4,999 employees", [{"field": "company_size", "op": "gte", "value": 50},
                               {"field": "company_size", "op": "lt", "value": 5000}], 10),
    ("Free-mail address", [{"field": "email", "op": "domain_in_list", "value": "freemail"}],
     -5),
]


def scoring_defaults_ensure() -> int:
    """Create the default rules and settings if there are no rules; returns how many
    rules were made. No rescore is queued: the demo rescores when its leads exist."""
    if Rule.objects.exists():
        return 0
    categories = {c.key: c for c in ScoreCategory.objects.all()}
    position = 0
    for name, category, kind, conditions, points, options in BEHAVIOUR:
        position += 1
        rule_create(name=name, kind="behavior", category=categories[category],
                    activity_kind=kind, conditions=conditions, points=points,
                    position=position, rescore=False, **options)
    for name, conditions, points in FIT:
        position += 1
        rule_create(name=name, kind="fit", conditions=conditions, points=points,
                    position=position, rescore=False)
    # MQL at 75 with grade B or better; bands for fit scores from −5 to 55.
    settings_update(grade_a_min=35, grade_b_min=25, grade_c_min=15, grade_d_min=5,
                    mql_score=75, mql_min_grade="B", rescore=False)
    return position
