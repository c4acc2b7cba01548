"""scoring's entry in settings.ACTIVITY_HANDLERS (after capture's, so page views a form
submission links to the lead are scored too).

Called by capture.tasks.activity_process with each new activity after its transaction
committed, and again if the task runs twice; scoring.services.activity_score_apply is
idempotent (one contribution per activity and rule). Activities scoring and the pipeline
write themselves (score_changed, grade_changed, stage_changed, …) are never scored, so
a score change cannot feed back into scoring.
"""

from capture.models import Activity
from scoring.conditions import UNSCORABLE_KINDS
from scoring.services import activity_score_apply


def activity_score(activity: Activity) -> None:
    if activity.kind in UNSCORABLE_KINDS:
        return
    activity_score_apply(activity=activity)
