"""Paths under /api/v1/ that name nothing get the API's JSON 404, not Django's HTML page."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here/",
        "/api/v1/leads/0.5/",
        "/api/v1/leads/abc/activities/",
        "/api/v1/leads/a%0Ab/activities/",  # a newline in the path
        "/api/v1/leads/1/activities/extra/",
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_it_answers_unknown_api_paths_with_a_json_404(marketer_api, path, method):
    response = getattr(marketer_api, method)(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_it_still_redirects_a_path_without_its_trailing_slash(marketer_api):
    response = marketer_api.get("/api/v1/leads")

    assert response.status_code == 301
    assert response["Location"] == "/api/v1/leads/"


def _id_routes(patterns=None, prefix=""):
    """Every route in the project with a primary key in its path, as a format string."""
    from django.urls import URLPattern, URLResolver, get_resolver

    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _id_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and any(
            marker in route for marker in ("<id:", "<int:", "ID_PATTERN")
        ):
            yield route


def _concrete(route: str, big: str):
    """The route with each of its ids in turn too big, the others 1."""
    import re

    route = route.replace("(?P<pk>ID_PATTERN)", "<id:pk>")  # the routers' lookups
    params = re.findall(r"<(?:id|int):\w+>", route)  # <int:…> would be the bug
    for position in range(len(params)):
        values = iter(big if i == position else "1" for i in range(len(params)))
        path = re.sub(r"<(?:id|int):\w+>", lambda _, v=values: next(v), route)
        yield "/" + path.lstrip("^").rstrip("$")


def test_every_id_route_answers_a_64_bit_overflowing_id_with_a_404(admin_user, client):
    # SQLite raised OverflowError for ids past 2**63 (a 500 schemathesis found): the
    # <id:…> converter and the routers' lookup regex stop them at the URL instead.
    from leadhub.converters import ID_PATTERN

    routes = [r.replace(ID_PATTERN, "ID_PATTERN") for r in _id_routes()]
    assert len(routes) > 40  # the walk found the app's routes, not nothing
    client.force_login(admin_user)
    for route in routes:
        for path in _concrete(route, "116150185644210372608"):
            for method in ("get", "post", "delete"):
                response = getattr(client, method)(path)
                assert response.status_code == 404, (path, method, response.status_code)
