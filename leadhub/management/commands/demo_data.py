from django.core.management.base import BaseCommand

from leadhub.demo.leads import DEFAULT_COUNT, DEFAULT_SEED, demo_data_create


class Command(BaseCommand):
    help = (
        "Add demo leads with 90 days of history (activities, stage changes, owners). "
        "The same seed makes the same leads; emails that are already leads are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=DEFAULT_COUNT,
                            help=f"How many leads to plan (default {DEFAULT_COUNT}).")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                            help="Another seed gives other leads.")

    def handle(self, *args, count: int, seed: int, **options):
        self.stdout.write(f"Created {demo_data_create(count=count, seed=seed)}.")
