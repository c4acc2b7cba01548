"""The OpenAPI schema is generated without warnings, describes the leads API, and its
docs page is served from local files."""

import io

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_it_generates_a_valid_schema_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"

    # --fail-on-warn exits non-zero on any warning: an unannotated field or view.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(target),
        stdout=io.StringIO(), stderr=io.StringIO(),
    )

    schema = yaml.safe_load(target.read_text())
    assert set(schema["paths"]) >= {
        "/api/v1/leads/", "/api/v1/leads/{id}/", "/api/v1/leads/{lead_id}/activities/"}


def test_it_serves_a_schema_that_matches_the_contract(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    leads = schema["paths"]["/api/v1/leads/"]
    assert set(leads) >= {"get", "post"}
    assert set(schema["paths"]["/api/v1/leads/{id}/"]) >= {"get", "put", "patch", "delete"}
    list_params = {p["name"] for p in leads["get"]["parameters"]}
    assert list_params >= {"q", "stage", "grade", "owner", "source", "created_after",
                           "created_before", "cursor", "page_size", "ordering"}
    components = schema["components"]["schemas"]
    lead = components["Lead"]["properties"]
    for name in ("id", "score", "grade", "source", "first_touch", "last_touch", "consent_at",
                 "unsubscribed_at", "created_at", "updated_at"):
        assert lead[name].get("readOnly"), name
    assert lead["owner"]["nullable"]
    request_fields = components["LeadRequest"]["properties"]
    assert "score" not in request_fields and "grade" not in request_fields
    assert request_fields["stage_reason"]["writeOnly"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_it_serves_the_docs_without_a_cdn(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
