"""The drip dispatcher's own queue: a backlog of activity follow-ups on the default
queue cannot hold a dispatcher run past beat's expiry, and a worker started without -Q
(make run, docker-compose, the tests' workers) consumes both."""

from leadhub.celery import app
from nurture.tasks import nurture_dispatch


def _queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_the_dispatcher_runs_on_its_own_queue():
    assert _queue_of(nurture_dispatch.name) == "nurture"


def test_activity_follow_ups_stay_on_the_default_queue():
    assert _queue_of("capture.tasks.activities_process") == "celery"
    assert _queue_of("capture.tasks.activity_process") == "celery"


def test_a_worker_without_q_consumes_both_queues():
    # What `celery worker` consumes when no -Q narrows it: every queue in task_queues.
    assert set(app.amqp.queues) >= {"celery", "nurture"}


def test_beat_queues_the_dispatcher_where_workers_listen():
    entry = app.conf.beat_schedule["nurture.dispatch-due-steps"]
    assert entry["task"] == nurture_dispatch.name
    assert "queue" not in entry.get("options", {})  # the route decides


def test_each_queue_has_its_own_binding():
    # Two queues bound with one routing key would both get every message sent with it.
    bindings = {(queue.exchange.name, queue.routing_key) for queue in app.amqp.queues.values()}
    assert len(bindings) == len(app.amqp.queues)
