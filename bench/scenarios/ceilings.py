"""(a) and (b): the two ceilings every other figure is a ratio of (DESIGN.md)."""

from bench.registry import Context, Figure, Measurement, Scenario, Target, register


def insert_setup(ctx: Context) -> None:
    from django.db import connection

    from bench.models import BenchLead

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {BenchLead._meta.db_table}")


def insert_targets(ctx: Context) -> list[Target]:
    return [
        Target(
            path="/bench/insert/",
            method="POST",
            script="unique_email_post.lua",
            headers={"Content-Type": "application/json"},
            expect_status=201,
            preflight_body=(f'{{"email": "preflight-{ctx.run_tag}@Bench.Example.com"}}').encode(),
        )
    ]


def insert_after(ctx: Context, measurements: list[Measurement]) -> list[Figure]:
    """Every 201 is a stored row. wrk stops with requests in flight, which the server may
    still complete and store without wrk counting them: up to one per connection."""
    from bench.models import BenchLead

    stored = BenchLead.objects.count()
    answered = 1 + sum(m.requests - m.errors.get("status", 0) for m in measurements)
    in_flight = sum(m.clients for m in measurements)
    ok = answered <= stored <= answered + in_flight
    return [Figure("ceiling-insert", "rows stored vs 201 answered", f"{stored:,} / {answered:,}",
                   ok=ok, note=f"up to {in_flight} may be in flight when wrk stops")]


register(Scenario(
    name="ceiling-json",
    title="(a) bare Django JSON view: full middleware stack, no database",
    targets=[Target(path="/bench/json/")],
))

register(Scenario(
    name="ceiling-insert",
    title="(b) bare Django view: one INSERT (unique lower(email) index) from a JSON body",
    setup=insert_setup,
    targets=insert_targets,
    after=insert_after,
    compare_to=["ceiling-json"],
))
