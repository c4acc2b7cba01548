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
