"""static/js/lh-pow.js in Chromium: its SHA-256 is SHA-256, and what it solves, the
server accepts. Also prints how long the default difficulty takes, next to the same
search done with crypto.subtle (one awaited digest per attempt)."""

import hashlib
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from capture.spam import pow_challenge, pow_check

pytestmark = pytest.mark.e2e

SOURCE = Path(django_settings.BASE_DIR, "static", "js", "lh-pow.js").read_text()


@pytest.fixture
def js(browser):
    context = browser.new_context()
    # An https page (served by the test itself): crypto.subtle needs a secure context.
    context.route("https://pow.test/", lambda route: route.fulfill(
        content_type="text/html", body="<!doctype html><title>pow</title>"))
    page = context.new_page()
    page.goto("https://pow.test/")
    page.add_script_tag(content=SOURCE)
    yield page
    context.close()


SOLVE = """([challenge, difficulty]) => new Promise(resolve => {
  const start = performance.now();
  LeadHubPow.solve(challenge, difficulty,
                   counter => resolve({counter, ms: performance.now() - start}));
})"""

SUBTLE = """async ([challenge, difficulty]) => {
  const start = performance.now(), enc = new TextEncoder();
  for (let counter = 0; ; counter++) {
    const data = enc.encode(challenge + ":" + counter);
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    let bits = 0;
    for (const b of d) { if (b === 0) { bits += 8; continue; } bits += Math.clz32(b) - 24; break; }
    if (bits >= difficulty) return {counter, ms: performance.now() - start};
  }
}"""


@pytest.mark.parametrize("text", ["", "abc", "a" * 55, "a" * 56, "a" * 64, "b" * 119,
                                  "c" * 1000, "héllo ✓ 🙂"])
def test_its_sha256_matches_pythons(js, text):
    assert js.evaluate("t => LeadHubPow.sha256Hex(t)", text) == hashlib.sha256(
        text.encode()).hexdigest()


def test_what_it_solves_the_server_accepts_once(js):
    challenge = pow_challenge(form_id=42)

    result = js.evaluate(SOLVE, [challenge, django_settings.FORM_POW_DIFFICULTY])

    solution = f"{challenge}:{result['counter']}"
    assert pow_check(solution, form_id=42) == ""
    assert pow_check(solution, form_id=42) == "proof of work reused"


def test_the_default_difficulty_takes_well_under_a_second_on_average(js):
    difficulty = django_settings.FORM_POW_DIFFICULTY
    challenges = [pow_challenge(form_id=i) for i in range(20)]

    ours = [js.evaluate(SOLVE, [c, difficulty]) for c in challenges]
    subtle = [js.evaluate(SUBTLE, [c, difficulty]) for c in challenges[:5]]

    for mine, theirs in zip(ours, subtle, strict=False):
        assert mine["counter"] == theirs["counter"]  # the same search, the same answer
    mean = sum(r["ms"] for r in ours) / len(ours)
    attempts = sum(r["counter"] + 1 for r in ours)
    subtle_rate = sum(r["counter"] + 1 for r in subtle) / sum(r["ms"] for r in subtle)
    print(f"\nlh-pow.js, difficulty {difficulty}: mean {mean:.0f} ms over {len(ours)} challenges "
          f"(max {max(r['ms'] for r in ours):.0f} ms), "
          f"{attempts / sum(r['ms'] for r in ours):.0f} hashes/ms; "
          f"crypto.subtle awaited per attempt: {subtle_rate:.0f} hashes/ms")
    assert mean < 1000
