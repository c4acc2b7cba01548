from django.core.management.base import BaseCommand

from leadhub.demo import bootstrap


class Command(BaseCommand):
    help = (
        "Create the admin account and the demo users (mia, a marketer; sam, a sales rep) "
        "with generated passwords, or reuse the ones stored in $LEADHUB_VAR_DIR/"
        "credentials.json; add demo leads if there are none; print the logins."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-demo-data", action="store_true", help="Only the accounts, no demo leads."
        )

    def handle(self, *args, no_demo_data: bool = False, **options):
        bootstrap(demo_data=not no_demo_data, write=self.stdout.write)
