"""Celery beat's schedule names tasks by string: a typo or a renamed task would only
show in production, as a KeyError in the worker's log. Each entry must be a task the
worker knows, scheduled often enough to matter and expiring before the next run."""

import pytest

from leadhub.celery import app

ENTRIES = sorted(app.conf.beat_schedule.items())


@pytest.mark.parametrize(("name", "entry"), ENTRIES, ids=[name for name, _ in ENTRIES])
def test_it_schedules_a_registered_task(name, entry):
    app.loader.import_default_modules()

    assert entry["task"] in app.tasks, f"{name}: no task {entry['task']}"
    schedule = float(entry["schedule"])
    assert 0 < schedule <= 24 * 3600
    expires = entry.get("options", {}).get("expires")
    assert expires is None or expires <= schedule


def test_the_background_jobs_the_apps_rely_on_are_scheduled():
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}

    assert {
        "capture.tasks.activities_redispatch_unprocessed",  # the outbox sweep
        "scoring.tasks.scores_decay",
        "nurture.tasks.nurture_dispatch",
        "pipeline.tasks.sla_breaches_alert",
    } <= tasks
