"""scoring's write services, one module per area. Callers import from here.

- rules: rule_create / rule_update / rule_delete, category_create, settings_update
- incremental: activity_score_apply (the activity handler's work), lead_score_refresh
- rescore: rescore_request, rescore_job_dispatch, rescore_jobs_redispatch, rescore_job_run,
  rescore_job_fail, rescore_run_inline, scores_decay
"""

from scoring.services.incremental import (
    LeadScored,
    activity_score_apply,
    lead_rescore,
    lead_score_refresh,
    lead_totals,
)
from scoring.services.rescore import (
    rescore_batch,
    rescore_job_dispatch,
    rescore_job_fail,
    rescore_job_run,
    rescore_jobs_redispatch,
    rescore_request,
    rescore_run_inline,
    scores_decay,
)
from scoring.services.rules import (
    RULE_FIELDS,
    SETTINGS_FIELDS,
    category_create,
    default_category,
    rule_create,
    rule_delete,
    rule_problems,
    rule_update,
    rules_changed,
    settings_problems,
    settings_update,
)

__all__ = [
    "RULE_FIELDS",
    "SETTINGS_FIELDS",
    "LeadScored",
    "activity_score_apply",
    "category_create",
    "default_category",
    "lead_rescore",
    "lead_score_refresh",
    "lead_totals",
    "rescore_batch",
    "rescore_job_dispatch",
    "rescore_job_fail",
    "rescore_job_run",
    "rescore_jobs_redispatch",
    "rescore_request",
    "rescore_run_inline",
    "rule_create",
    "rule_delete",
    "rule_problems",
    "rule_update",
    "rules_changed",
    "scores_decay",
    "settings_problems",
    "settings_update",
]
