"""Which database a read goes to."""

from django.conf import settings

REPLICA = "replica"


def reporting_db() -> str:
    """The alias for reads that may lag a few seconds behind writes (dashboards,
    reports): the read replica when DATABASE_REPLICA_URL configures one, else default.
    Never for reads that decide a write."""
    return REPLICA if REPLICA in settings.DATABASES else "default"
