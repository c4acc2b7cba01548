"""The Celery app, and every periodic task LeadHub runs (one place, each with its reason)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")

app = Celery("leadhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # The outbox sweep: an activity is committed with the submission, and its follow-up
    # task is queued on commit. If the broker was down at that moment, or a worker died
    # holding the task, the activity stays unprocessed; this re-queues it, so a broker
    # outage delays scoring and nurture but loses nothing.
    "capture.redispatch-unprocessed-activities": {
        "task": "capture.tasks.activities_redispatch_unprocessed",
        "schedule": 60.0,
    },
    # Anonymous page views wait for their visitor to submit a form; those that never do
    # (and visitors never linked to a lead) are deleted after VISITOR_RETENTION_DAYS, so
    # tracking data does not grow without bound and is not kept longer than it is useful.
    "capture.prune-anonymous-visitors": {
        "task": "capture.tasks.visitors_prune",
        "schedule": 24 * 3600.0,
    },
    # Scoring decay: behaviour points can expire (a rule's "expires after D days"). Each
    # lead's next expiry is stored; this rescores, set-based, the leads whose expiry has
    # passed, so a lead that went quiet cools down without waiting for its next activity.
    # Hourly: points expire by the day, and a run with nothing due is one indexed query.
    "scoring.decay-expired-points": {
        "task": "scoring.tasks.scores_decay",
        "schedule": 3600.0,
    },
    # Rescore outbox: a queued rescore whose tasks never reached the broker (it was down
    # when the job committed) or were lost is sent again, so it cannot stay queued for
    # ever; sending twice is harmless (workers claim batches). One indexed query.
    "scoring.redispatch-queued-rescores": {
        "task": "scoring.tasks.rescores_redispatch",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Nurture dispatcher: due drip steps are rows in the database (not Celery countdowns,
    # which a broker's visibility timeout would run twice); this claims and sends them.
    # Every 5 s keeps the lag from due time to send small; runs overlap safely (SKIP
    # LOCKED), and a run still queued after 5 s is dropped rather than piling up.
    "nurture.dispatch-due-steps": {
        "task": "nurture.tasks.nurture_dispatch",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    # Nurture's "a lead comes to match a saved segment" triggers: a segment is a filter,
    # and no activity says a lead now matches it, so each watched segment is compared with
    # what its sequence has seen (set-based: one DELETE and one anti-join per watch).
    # Changes the leads list filters on are also checked at once by the activity handler;
    # this catches the rest within a minute. Nothing watched: one query.
    "nurture.enroll-segment-matches": {
        "task": "nurture.tasks.segments_enroll",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Speed-to-lead: MQLs nobody touched within the SLA (PipelineSettings.sla_minutes,
    # default 5) alert their owner and the team's manager, once per hand-off. Every minute
    # keeps an alert at most a minute late.
    "pipeline.sla-breach-alerts": {
        "task": "pipeline.tasks.sla_breaches_alert",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
