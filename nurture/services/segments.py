"""The "a lead comes to match a saved segment" trigger, evaluated set-based.

No activity says "this lead now matches": a segment is a filter (capture.segments), and a
lead comes to match it by any change of the fields it reads. So each watch
(SegmentWatch: a sequence with a ``segment`` trigger) is compared with its segment:

- the leads it saw (SegmentMatch) that no longer match are forgotten (one DELETE), so
  coming back later is coming to match again;
- the leads that match and it has not seen (one anti-join, at most MAX_NEW_PER_RUN per
  run) are enrolled through ``enrollments_create_bulk`` (every rule of
  ``enrollment_create``: one active run, re-enrolment policy, unsubscribed, suppressed,
  past the exit stage; refused leads are skipped) and recorded as seen, whether enrolled
  or not, in one transaction per chunk;
- the first evaluation while the sequence is active only records the leads that match
  then (``primed_at``): those already in the segment are not enrolled (the editor says
  so; "Add to sequence…" on the leads list adds them). While the sequence is paused its
  watches record without enrolling, as paused sequences ignore their other triggers.

``segments_evaluate()`` runs every minute (leadhub/celery.py); the activity handler calls
it for one lead at once when the lead changed in a way the leads list filters on, and the
rescore hook for the leads whose grade a rescore changed. Runs may overlap: recording is
``ignore_conflicts`` on the unique (watch, lead), and a second enrollment is refused by
the enrollment rules and the one-active-run constraint.
"""

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from capture.segments import segment_leads
from nurture.models import SegmentMatch, SegmentWatch, SequenceStatus, TriggerType
from nurture.services.enrollments import BulkEnrollment, enrollments_create_bulk

logger = logging.getLogger(__name__)

CHUNK = 500
# New matches handled per watch and run; more wait for the next run (a minute later), so
# one huge segment cannot hold a run for long.
MAX_NEW_PER_RUN = 10_000


def segment_watches_sync(*, sequence, segment_ids: Iterable[int]) -> None:
    """The sequence watches exactly these segments (after its triggers were saved): a
    watch that stays keeps what it has seen; a new one starts unprimed."""
    wanted = set(segment_ids)
    SegmentWatch.objects.filter(sequence=sequence).exclude(segment_id__in=wanted).delete()
    have = set(SegmentWatch.objects.filter(sequence=sequence)
               .values_list("segment_id", flat=True))
    SegmentWatch.objects.bulk_create(
        [SegmentWatch(sequence=sequence, segment_id=pk) for pk in sorted(wanted - have)],
        ignore_conflicts=True)


def _evaluate(watch: SegmentWatch, *, lead_ids, now: datetime) -> BulkEnrollment:
    result = BulkEnrollment()
    matching = segment_leads(watch.segment)
    seen = SegmentMatch.objects.filter(watch=watch)
    if lead_ids is not None:
        matching, seen = matching.filter(pk__in=lead_ids), seen.filter(lead_id__in=lead_ids)
    seen.exclude(lead_id__in=matching.values("pk")).delete()
    new = list(matching.exclude(pk__in=seen.values("lead_id")).order_by("pk")
               .values_list("pk", flat=True)[:MAX_NEW_PER_RUN])
    sequence = watch.sequence
    enroll = watch.primed_at is not None and sequence.status == SequenceStatus.ACTIVE
    for start in range(0, len(new), CHUNK):
        chunk = new[start:start + CHUNK]
        with transaction.atomic():
            if enroll:
                result.add(enrollments_create_bulk(sequence=sequence, lead_ids=chunk,
                                                   source=TriggerType.SEGMENT, now=now))
            SegmentMatch.objects.bulk_create(
                [SegmentMatch(watch=watch, lead_id=pk, matched_at=now) for pk in chunk],
                ignore_conflicts=True)
    if (watch.primed_at is None and sequence.status == SequenceStatus.ACTIVE
            and lead_ids is None and len(new) < MAX_NEW_PER_RUN):
        # Every lead that matched is recorded: from the next run on, new ones enroll.
        SegmentWatch.objects.filter(pk=watch.pk, primed_at__isnull=True).update(primed_at=now)
    return result


def segments_evaluate(*, lead_ids: Iterable[int] | QuerySet | None = None,
                      now: datetime | None = None) -> int:
    """Compare every watch with its segment (only for ``lead_ids``, when given: then only
    primed watches of active sequences, as a lead's change is checked at once) and enroll
    the leads that came to match. Returns how many were enrolled. No watch: one query."""
    now = now or timezone.now()
    watches = SegmentWatch.objects.select_related("sequence", "segment").order_by("pk")
    if lead_ids is None:
        watches = watches.filter(sequence__status__in=[SequenceStatus.ACTIVE,
                                                       SequenceStatus.PAUSED])
    else:
        watches = watches.filter(sequence__status=SequenceStatus.ACTIVE,
                                 primed_at__isnull=False)
        if isinstance(lead_ids, list | tuple | set | frozenset):
            lead_ids = list(lead_ids)
    enrolled = 0
    for watch in watches:
        result = _evaluate(watch, lead_ids=lead_ids, now=now)
        enrolled += len(result.enrolled)
        if lead_ids is None and (result.enrolled or result.skipped):
            logger.info("Nurture: segment “%s” → sequence %s: %d enrolled, skipped %s",
                        watch.segment.name, watch.sequence_id, len(result.enrolled),
                        result.skipped_text() or "none")
    return enrolled
