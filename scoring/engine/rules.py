"""Rules as the engine uses them: compiled once per change, cached per process, and the
one Python definition of what a sequence of matches earns (caps, count windows, expiry),
which the SQL in scoring.engine.sql computes set-based.

What a rule's matches earn, for one lead, in (occurred_at, activity id) order:

- A plain rule fires at every match. A count rule (``count`` N within ``window_days`` W)
  fires at a match when, counting it and the earlier matches at most W days older, there
  are exactly N: the Nth match within W days fires it once; it fires again only after
  the sliding count has dropped below N and climbs back to N.
- With ``max_times`` K, only the first K firings earn points (the rest are kept with 0).
- A firing that earns points expires ``expires_after_days`` after its activity.

Both engines sort and count the same way, so the order the activities arrive in does not
matter: a late (older) activity re-decides the matches after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection

from capture.models import ActivityKind
from scoring.conditions import Compiled, compile_conditions, is_automated
from scoring.models import GRADE_ORDER, Rule, RuleKind, ScoringSettings

# Activities after which the lead's fields may have changed: the grade is recomputed.
FIT_KINDS = frozenset({ActivityKind.LEAD_CREATED, ActivityKind.LEAD_UPDATED,
                       ActivityKind.FORM_SUBMITTED})

DAY = 86400


@dataclass(frozen=True)
class RuleSpec:
    id: int
    name: str
    kind: str
    activity_kind: str
    category: str  # the category's key ("" for fit rules)
    points: int
    max_times: int | None
    expires_days: int | None
    count: int | None
    window_days: int | None
    compiled: Compiled

    @classmethod
    def from_rule(cls, rule: Rule, category_key: str = "") -> RuleSpec:
        return cls(
            id=rule.pk or 0, name=rule.name, kind=rule.kind, activity_kind=rule.activity_kind,
            category=category_key, points=rule.points, max_times=rule.max_times,
            expires_days=rule.expires_after_days, count=rule.count,
            window_days=rule.window_days,
            compiled=compile_conditions(rule.kind, rule.conditions or []),
        )

    @property
    def is_counted(self) -> bool:
        return self.count is not None

    @property
    def needs_order(self) -> bool:
        """Whether what a match earns depends on the other matches (cap or count)."""
        return self.max_times is not None or self.count is not None

    @property
    def expires_seconds(self) -> int | None:
        return self.expires_days * DAY if self.expires_days else None

    @property
    def window_seconds(self) -> int | None:
        return self.window_days * DAY if self.window_days else None

    def matches_activity(self, kind: str, data) -> bool:
        return kind == self.activity_kind and not is_automated(data) and \
            self.compiled.matches(data)

    def expiry(self, occurred_at: datetime) -> datetime | None:
        return occurred_at + timedelta(days=self.expires_days) if self.expires_days else None


@dataclass(frozen=True)
class Thresholds:
    bands: dict[str, int]
    mql_score: int
    mql_min_grade: str
    mql_category: str  # key, or ""
    mql_category_min: int | None

    def grade_for(self, fit_score: int) -> str:
        for grade, minimum in self.bands.items():
            if fit_score >= minimum:
                return grade
        return "F"

    def qualifies(self, score: int, grade: str, categories: dict[str, int]) -> bool:
        if score < self.mql_score:
            return False
        if self.mql_min_grade and (
            not grade or GRADE_ORDER.index(grade) > GRADE_ORDER.index(self.mql_min_grade)
        ):
            return False
        return not (self.mql_category
                    and categories.get(self.mql_category, 0) < self.mql_category_min)

    def describe(self) -> str:
        parts = [f"score ≥ {self.mql_score}"]
        if self.mql_min_grade:
            parts.append(f"grade {self.mql_min_grade} or better")
        if self.mql_category:
            parts.append(f"{self.mql_category} ≥ {self.mql_category_min}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Snapshot:
    """The active rules and the settings, as of ``stamp``."""

    stamp: str
    behavior: tuple[RuleSpec, ...]
    fit: tuple[RuleSpec, ...]
    thresholds: Thresholds
    by_kind: dict[str, tuple[RuleSpec, ...]] = field(default_factory=dict)
    # Every behaviour rule's category key, inactive rules too (their contributions count
    # until a rescore removes them).
    category_of: dict[int, str] = field(default_factory=dict)

    @property
    def grading(self) -> bool:
        """Leads are graded only when there is at least one active fit rule."""
        return bool(self.fit)

    def matching(self, kind: str, data) -> list[RuleSpec]:
        candidates = self.by_kind.get(kind, ())
        if not candidates or is_automated(data):
            return []
        return [r for r in candidates if r.compiled.matches(data)]

    def fit_score(self, lead) -> int:
        return sum(r.points for r in self.fit if r.compiled.matches(lead))

    def grade(self, fit_score: int) -> str:
        return self.thresholds.grade_for(fit_score) if self.grading else ""


def thresholds_from(s: ScoringSettings) -> Thresholds:
    return Thresholds(
        bands=s.bands, mql_score=s.mql_score, mql_min_grade=s.mql_min_grade,
        mql_category=s.mql_category.key if s.mql_category_id else "",
        mql_category_min=s.mql_category_min,
    )


def snapshot_build(rules: Iterable[Rule], settings: ScoringSettings,
                   category_of: dict[int, str] | None = None) -> Snapshot:
    behavior, fit = [], []
    for rule in rules:
        if rule.kind == RuleKind.BEHAVIOR:
            behavior.append(RuleSpec.from_rule(rule, rule.category.key))
        else:
            fit.append(RuleSpec.from_rule(rule))
    by_kind: dict[str, list[RuleSpec]] = {}
    for spec in behavior:
        by_kind.setdefault(spec.activity_kind, []).append(spec)
    return Snapshot(
        stamp=settings.rules_stamp, behavior=tuple(behavior), fit=tuple(fit),
        thresholds=thresholds_from(settings),
        by_kind={k: tuple(v) for k, v in by_kind.items()},
        category_of=category_of if category_of is not None else {
            r.id: r.category for r in behavior},
    )


def snapshot_load(settings: ScoringSettings | None = None) -> Snapshot:
    """The active rules and settings, read now (no cache)."""
    settings = settings or ScoringSettings.objects.select_related("mql_category").get(
        pk=ScoringSettings.SINGLETON_ID)
    # Deleted rules too: their contributions count until a rescore removes them.
    rules = list(Rule.all_objects.select_related("category").order_by("position", "id"))
    category_of = {r.pk: r.category.key for r in rules if r.category_id}
    return snapshot_build([r for r in rules if r.active and r.deleted_at is None], settings,
                          category_of)


_cache = threading.local()


def snapshot_current(stamp: str | None = None) -> Snapshot:
    """The active rules, cached per process and thread; one indexed read checks they are
    current (the settings row's stamp changes with every rule or settings change).
    ``stamp``: the stamp, read already."""
    alias = connection.alias
    if stamp is None:
        with connection.cursor() as cursor:  # raw: read for every activity
            cursor.execute("SELECT rules_stamp FROM scoring_scoringsettings WHERE id = %s",
                           [ScoringSettings.SINGLETON_ID])
            row = cursor.fetchone()
        stamp = row[0] if row else None
    if stamp is None:
        ScoringSettings.load()
        return snapshot_current()
    cached = getattr(_cache, "snapshots", {}).get(alias)
    if cached is not None and cached.stamp == stamp:
        return cached
    snapshot = snapshot_load()
    if not hasattr(_cache, "snapshots"):
        _cache.snapshots = {}
    _cache.snapshots[alias] = snapshot
    return snapshot


def snapshot_cached() -> Snapshot | None:
    """The snapshot this process last loaded, unchecked (None before the first)."""
    return getattr(_cache, "snapshots", {}).get(connection.alias)


def snapshot_cache_clear() -> None:
    _cache.snapshots = {}


# --- What matches earn ----------------------------------------------------------------------


@dataclass(frozen=True)
class Earned:
    points: int
    expires_at: datetime | None


def fires(times: list[datetime], *, count: int | None, window_days: int | None
          ) -> list[bool]:
    """Whether each of one lead's matches of a rule (their times, ascending) fires it:
    every match of a plain rule; for a count rule (``count`` within ``window_days``),
    a match that makes the count within the window exactly ``count``."""
    if count is None:
        return [True] * len(times)
    window = timedelta(days=window_days)
    result = []
    start = 0  # the first match inside the current match's window
    for i, occurred_at in enumerate(times):
        while times[start] < occurred_at - window:
            start += 1
        result.append((i - start + 1) == count)
    return result


def assign(rule: RuleSpec, matches: list[tuple[datetime, int]]) -> list[Earned]:
    """What each of one lead's matches of ``rule`` earns; ``matches`` are (occurred_at,
    activity id) sorted ascending. The reference for the SQL in scoring.engine.sql."""
    result = []
    firings = 0
    fired_at = fires([m[0] for m in matches], count=rule.count, window_days=rule.window_days)
    for (occurred_at, _), fired in zip(matches, fired_at, strict=True):
        if fired:
            firings += 1
        earns = fired and (rule.max_times is None or firings <= rule.max_times)
        result.append(Earned(rule.points if earns else 0,
                             rule.expiry(occurred_at) if earns else None))
    return result
