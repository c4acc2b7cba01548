"""``manage.py rescore``: rescore every lead from its activities with the current rules,
here and now, with a progress line (the same set-based SQL the Celery job runs)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scoring.models import RescoreJob
from scoring.services.rescore import rescore_job_threads, rescore_run_inline


class Progress:
    """One line, rewritten in place (\\r) on a terminal; a line per update otherwise."""

    def __init__(self, stdout, *, tty: bool):
        self.stdout, self.tty = stdout, tty
        self.started = time.monotonic()

    def __call__(self, job: RescoreJob) -> None:
        elapsed = time.monotonic() - self.started
        rate = job.done / elapsed if elapsed > 0 else 0.0
        remaining = max(job.total - job.done, 0)
        eta = f"{remaining / rate:,.0f} s" if rate and remaining else "0 s"
        line = (f"{job.percent:5.1f}%  {job.done:,}/{job.total:,} leads  "
                f"{rate:,.0f} leads/s  ETA {eta}  ({job.scores_changed:,} scores and "
                f"{job.grades_changed:,} grades changed, {job.promoted:,} new MQLs)")
        if self.tty:
            self.stdout.write(f"\r{line}", ending="")
            self.stdout.flush()
        else:
            self.stdout.write(line)


class Command(BaseCommand):
    help = ("Rescore every lead from its activities with the current rules (set-based, in "
            "batches of lead ids), showing progress. --job resumes a queued or interrupted "
            "rescore job. --changed matches only the rules changed since they were last "
            "rescored, as the rescore after a rule change does.")

    def add_arguments(self, parser):
        parser.add_argument("--job", type=int, help="Run (or resume) this rescore job.")
        parser.add_argument("--reason", default="manage.py rescore",
                            help="Recorded with the job.")
        parser.add_argument(
            "--workers", type=int, default=getattr(settings, "SCORING_RESCORE_WORKERS", 2),
            help="Batches rescored side by side, each on its own database connection "
                 "(Postgres; SQLite has one writer). Default SCORING_RESCORE_WORKERS.")
        parser.add_argument(
            "--changed", action="store_true",
            help="Match only the changed rules against the activities again (the others' "
                 "contributions are kept); every lead's score and grade is still "
                 "recomputed. Default: every rule.")

    def handle(self, *args, job: int | None = None, reason: str = "", workers: int = 1,
               changed: bool = False, **options):
        # OutputWrapper proxies isatty() to the stream it wraps (a StringIO in tests).
        progress = Progress(self.stdout, tty=self.stdout.isatty())
        started = time.monotonic()
        if job is not None:
            if not RescoreJob.objects.filter(pk=job).exists():
                raise CommandError(f"No rescore job {job}.")
            rescore_job_threads(job_id=job, workers=workers, progress=progress)
            result = RescoreJob.objects.get(pk=job)
        else:
            result = rescore_run_inline(reason=reason, progress=progress, workers=workers,
                                        full=not changed)
        if progress.tty:
            self.stdout.write("")
        seconds = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(
            f"Rescore #{result.pk} {result.status}: {result.done:,} leads ({result.scope}) in "
            f"{seconds:.1f} s; "
            f"{result.scores_changed:,} scores and {result.grades_changed:,} grades changed, "
            f"{result.promoted:,} leads became MQLs."))
