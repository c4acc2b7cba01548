"""The API's URLs, written out: they are a contract, so tests do not reverse() them."""

LEADS_URL = "/api/v1/leads/"


def lead_url(lead_or_id) -> str:
    return f"{LEADS_URL}{getattr(lead_or_id, 'pk', lead_or_id)}/"


def activities_url(lead_or_id) -> str:
    return f"{lead_url(lead_or_id)}activities/"
