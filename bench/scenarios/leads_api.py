"""(c) The product's leads API on 100,000 leads: the first page (50 leads, newest first),
and the same filtered by stage and sorted by score (what the board's MQL column asks)."""

import json

from bench.registry import Context, Figure, Scenario, Target, register

PAGE_SIZE = 50
LIST = "/api/v1/leads/"
MQL_BY_SCORE = "/api/v1/leads/?stage=mql&ordering=-score"


def setup(ctx: Context) -> None:
    ctx.ensure_leads(ctx.args.leads)


def check_page(body: bytes) -> str | None:
    try:
        page = json.loads(body)
        results = page["results"]
    except (ValueError, KeyError, TypeError):
        return f"not a keyset page of leads: {body[:200]!r}"
    if len(results) != PAGE_SIZE:
        return f"{len(results)} leads on the first page, expected {PAGE_SIZE}"
    return None


def targets_for(path: str, label: str = ""):
    def targets(ctx: Context) -> list[Target]:
        return [Target(path=path, headers=ctx.api_headers(), check=check_page, label=label)]

    return targets


def in_process_for(scenario: str, path: str):
    def in_process(ctx: Context) -> list[Figure]:
        """The same request without the network or concurrency: what one request costs."""
        from bench.probe import probe

        p = probe(path, headers=ctx.api_headers())
        if p.status != 200:
            return [Figure(scenario, "in-process request", f"answered {p.status}", ok=False)]
        return [
            Figure(scenario, "server time in-process (median / p90)",
                   f"{p.median_ms:.1f} / {p.p90_ms:.1f}", "ms"),
            Figure(scenario, "SQL per request", p.queries, "queries",
                   note=f"{p.sql_ms:.1f} ms of it in the database driver"),
        ]

    return in_process


register(Scenario(
    name="leads-api",
    title="(c) GET /api/v1/leads/ with a token: first page of 50, on 100,000 leads",
    setup=setup,
    targets=targets_for(LIST),
    run=in_process_for("leads-api", LIST),
    compare_to=["ceiling-json"],
))

register(Scenario(
    name="leads-api-mql",
    title="GET /api/v1/leads/?stage=mql&ordering=-score: first page, on 100,000 leads",
    setup=setup,
    targets=targets_for(MQL_BY_SCORE, label="GET leads?stage=mql…"),
    run=in_process_for("leads-api-mql", MQL_BY_SCORE),
    compare_to=["ceiling-json", "leads-api"],
))
