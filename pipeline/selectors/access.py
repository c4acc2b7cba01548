"""Who may move a lead through the pipeline: one answer for the board, the lead's edit
form and the API, so no way in is more lenient than another."""

from capture.models import Lead

PIPELINE_PERMISSION = "leadhub.work_pipeline"
ADMIN_PERMISSION = "leadhub.manage_users"


def move_refusal(user, lead: Lead) -> str | None:
    """Why ``user`` may not change ``lead``'s stage or owner, in words for them; None if
    they may. Reps move their own leads and unowned ones; another rep's only when the
    pipeline settings allow it (off by default). Admins move any lead."""
    from pipeline.models import PipelineSettings

    if not user.has_perm(PIPELINE_PERMISSION):
        return "Only sales reps and admins move leads through the pipeline."
    someone_elses = lead.owner_id is not None and lead.owner_id != user.pk
    if someone_elses and not user.has_perm(ADMIN_PERMISSION) and (
        not PipelineSettings.load().reps_move_others_leads
    ):
        return "This lead belongs to another rep; only they or an admin may move or reassign it."
    return None
