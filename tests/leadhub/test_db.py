"""Reads that may lag go to the read replica when one is configured."""

from leadhub.db import reporting_db


def test_reports_read_the_replica_when_one_is_configured(settings, monkeypatch):
    assert reporting_db() == "default"  # the test settings configure none
    replica = {**settings.DATABASES["default"], "TEST": {"MIRROR": "default"}}
    monkeypatch.setitem(settings.DATABASES, "replica", replica)  # restored afterwards
    assert reporting_db() == "replica"


def test_the_replica_comes_from_database_replica_url(monkeypatch):
    import importlib

    import leadhub.settings as project_settings

    monkeypatch.setenv("DATABASE_REPLICA_URL", "postgres://reader@replica.internal:5432/leadhub")
    try:
        reloaded = importlib.reload(project_settings)
        replica = reloaded.DATABASES["replica"]
        assert (replica["HOST"], replica["USER"], replica["NAME"]) == (
            "replica.internal", "reader", "leadhub")
        assert replica["TEST"] == {"MIRROR": "default"}
    finally:
        monkeypatch.delenv("DATABASE_REPLICA_URL")
        importlib.reload(project_settings)
