"""The ``<id:…>`` path converter every LeadHub URL uses for a row's primary key.

Django's ``<id:…>`` matches any run of digits, so ``/api/v1/leads/116150185644210372608/``
reaches the view, and SQLite raises OverflowError on a number past 64 bits instead of
finding no row: a 500 where a 404 belongs. No id LeadHub makes has more than 18 digits
(ids are 64-bit signed, 2**63 − 1 has 19), so longer numbers simply match no route.
"""

from django.urls import register_converter

# Also the routers' ``lookup_value_regex``: one rule for what a primary key looks like.
ID_PATTERN = r"[0-9]{1,18}"


class IdConverter:
    regex = ID_PATTERN

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


def register() -> None:
    register_converter(IdConverter, "id")
