"""Telling other apps what a full rescore or a decay run changed.

Those runs write their score_changed / grade_changed activities already processed (a
rescore can change a million scores: they are records, not follow-up work), so they never
reach settings.ACTIVITY_HANDLERS. Apps that must react to scores and grades whatever
changed them (nurture's "a lead reaches a score / grade" triggers) are named in
settings.SCORING_RESCORE_HOOKS (scoring imports none of them: capture ← scoring,
capture ← nurture). Each is called as ``hook(changes=ScoreChanges)`` once per batch that
changed something, after that batch's transaction committed; a hook that fails is logged
and the next one still runs, and the rescore stays committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from capture.models import Activity, ActivityKind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreChanges:
    """What one committed rescore (or decay) batch changed: the score_changed /
    grade_changed activities it inserted are those of leads ``lo``…``hi`` with ids in
    (``after_id``, ``upto_id``]. Nothing is read until a hook asks (``activities()``)."""

    cause: dict
    lo: int
    hi: int
    after_id: int
    upto_id: int
    scores_changed: int
    grades_changed: int

    def activities(self) -> QuerySet[Activity]:
        """The batch's score_changed / grade_changed activities (an id-range scan)."""
        return Activity.objects.filter(
            pk__gt=self.after_id, pk__lte=self.upto_id, lead_id__gte=self.lo,
            lead_id__lte=self.hi,
            kind__in=[ActivityKind.SCORE_CHANGED, ActivityKind.GRADE_CHANGED])


def hooks_configured() -> list[str]:
    return [path for path in getattr(settings, "SCORING_RESCORE_HOOKS", None) or [] if path]


def activity_mark() -> int:
    """The highest activity id now (one index lookup): the batch's inserts come after."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {Activity._meta.db_table}")  # noqa: S608
        return cursor.fetchone()[0] or 0


def hooks_call_on_commit(*, cause: dict, lo: int, hi: int, after_id: int,
                         scores_changed: int, grades_changed: int) -> None:
    """Inside the batch's transaction, after its activities were inserted: call the
    hooks once it commits (never if it rolls back)."""
    paths = hooks_configured()
    if not paths or not (scores_changed or grades_changed):
        return
    changes = ScoreChanges(cause=cause, lo=lo, hi=hi, after_id=after_id,
                           upto_id=activity_mark(), scores_changed=scores_changed,
                           grades_changed=grades_changed)
    transaction.on_commit(lambda: hooks_call(changes, paths))


def hooks_call(changes: ScoreChanges, paths: list[str] | None = None) -> None:
    for path in hooks_configured() if paths is None else paths:
        try:
            import_string(path)(changes=changes)
        except Exception:
            logger.exception("Rescore hook %s failed for leads %s…%s (%s)", path,
                             changes.lo, changes.hi, changes.cause)
