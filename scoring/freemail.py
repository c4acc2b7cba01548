"""The built-in free-mail list (scoring/data/freemail.txt): the named list "freemail"
that fit conditions use as ``{"field": "email", "op": "domain_in_list", "value":
"freemail"}``."""

from pathlib import Path

_PATH = Path(__file__).resolve().parent / "data" / "freemail.txt"


def _load() -> frozenset[str]:
    lines = _PATH.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
    )


FREEMAIL_DOMAINS = _load()
