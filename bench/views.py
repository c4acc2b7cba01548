"""The two ceilings every LeadHub endpoint is measured against (DESIGN.md, Performance
targets). Both run through the product's full middleware stack on the same gunicorn, so
the difference between them and a product endpoint is the product's own work."""

import json

from django.db import IntegrityError
from django.http import HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bench.models import BenchLead


@csrf_exempt
@require_GET
def ceiling_json(request):
    """(a) The cheapest Django answer: no database, a small JSON body."""
    return JsonResponse({"ok": True, "service": "leadhub", "ceiling": "json"})


@csrf_exempt
@require_POST
def ceiling_insert(request):
    """(b) One INSERT into a lead-like table with a unique lower(email) index, from a
    JSON body: the least a form submission can cost."""
    try:
        body = json.loads(request.body)
        email = body["email"].strip()
    except (ValueError, KeyError, TypeError, AttributeError):
        return HttpResponseBadRequest("Send a JSON object with an email.")
    try:
        lead = BenchLead.objects.create(
            email=email[:254],
            first_name=str(body.get("first_name", ""))[:150],
            last_name=str(body.get("last_name", ""))[:150],
            company=str(body.get("company", ""))[:200],
            source=str(body.get("source", ""))[:200],
        )
    except IntegrityError:
        return JsonResponse({"errors": {"email": ["Already exists."]}}, status=409)
    return JsonResponse({"id": lead.pk}, status=201)
