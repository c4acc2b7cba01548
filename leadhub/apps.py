from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LeadHubConfig(AppConfig):
    name = "leadhub"
    verbose_name = "LeadHub"

    def ready(self) -> None:
        from leadhub import auth, converters
        from leadhub.db import psycopg_keep_longer_parses
        from leadhub.roles import roles_sync_after_migrate

        psycopg_keep_longer_parses()  # see leadhub/db.py
        converters.register()  # before any URLconf is imported: they use <id:…>
        auth.connect_signals()  # cached permission sets dropped when they change

        # Permissions only exist once every app has migrated, so roles are (re)synced
        # after each migrate rather than in a data migration.
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="leadhub.roles")
