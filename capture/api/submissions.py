"""POST /api/v1/forms/<form_key>/submissions/: the public submission endpoint (a
contract websites rely on; see DESIGN.md). No login; CORS per form."""

import io
import json

from django.conf import settings
from django.http import HttpResponse
from django.http.multipartparser import MultiPartParserError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import parsers, serializers
from rest_framework.exceptions import NotFound, ParseError, UnsupportedMediaType
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from capture import public
from capture.models import Channel, Form, Submission
from capture.services.submissions import (
    IdempotencyConflict,
    SubmissionContext,
    submission_record,
)
from capture.validation import TOKEN_FIELD, SubmissionInvalid
from leadhub.api import BAD_REQUEST, ERRORS_ALWAYS, NOT_FOUND, JSONParser, ModelPermissions
from leadhub.net import client_ip

CORS_MAX_AGE = 86400
ERRORS = inline_serializer(
    "SubmissionErrors",
    {"errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField()))},
)
DETAIL = inline_serializer("SubmissionDetail", {"detail": serializers.CharField()})
CREATED = inline_serializer(
    "SubmissionCreated",
    {
        "lead": serializers.IntegerField(),
        "submission": serializers.IntegerField(),
        "ignored_fields": serializers.ListField(child=serializers.CharField()),
        "thank_you_message": serializers.CharField(),
        "redirect_url": serializers.CharField(allow_blank=True),
    },
)


class SubmissionsReaders(ModelPermissions):
    """Reading submissions (personal data) takes what reading leads takes."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated
                    and request.user.has_perm("capture.view_lead"))


def _json(data, status: int) -> HttpResponse:
    """A public post's answer: JSON as DRF's JSONRenderer writes it (compact, UTF-8)."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return HttpResponse(body.encode(), status=status, content_type="application/json")


def _errors(errors: dict[str, list[str]], status: int = 400) -> HttpResponse:
    return _json({"errors": errors}, status)


FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _posted_fields(request):
    """The posted fields as name → value (or a list of values), read as DRF's parsers
    read them (the same errors: ParseError for a 400, UnsupportedMediaType for a 415);
    uploaded files are not fields."""
    media_type = request.content_type.lower()
    if not request.META.get("CONTENT_TYPE") or not request.body:
        return {}  # nothing to parse, as DRF has it
    if media_type == "application/json":
        encoding = request.content_params.get("charset") or settings.DEFAULT_CHARSET
        return JSONParser().parse(io.BytesIO(request.body), media_type, {"encoding": encoding})
    if media_type in FORM_MEDIA_TYPES:
        try:
            return public.form_data(request.POST)
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
    raise UnsupportedMediaType(request.META["CONTENT_TYPE"])


class SubmissionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Submission
        fields = [
            "id", "form", "variant", "lead", "channel", "data", "ignored_fields",
            "attribution", "ip", "user_agent", "consent_given", "consent_text",
            "consent_version", "is_spam", "spam_reason", "created_at",
        ]
        read_only_fields = fields


class FormSubmissionView(ListAPIView):
    """One path, two audiences: websites POST by the form's public key (no login), and
    signed-in users and integrations GET a form's submissions by its id (or key)."""

    parser_classes = [JSONParser, parsers.FormParser, parsers.MultiPartParser]
    serializer_class = SubmissionSerializer
    orderings = {"-created_at": ("-created_at", "-id")}

    @property
    def _public(self) -> bool:
        # The schema generator builds this view without a request.
        method = getattr(getattr(self, "request", None), "method", None)
        return method in ("POST", "OPTIONS")

    def get_authenticators(self):
        # Public posts carry no session, so no CSRF check applies to them either.
        return [] if self._public else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._public else [SubmissionsReaders()]

    def get_throttles(self):
        # Public posts have their own per-address and per-form limits (capture.public).
        return [] if self._public else super().get_throttles()

    def get_renderers(self):
        return [JSONRenderer()] if self._public else super().get_renderers()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return Submission.objects.none()
        ref = self.kwargs["form_key"]
        lookup = {"pk": int(ref)} if ref.isdigit() and len(ref) < 19 else {"key": ref}
        form = Form.objects.filter(**lookup).first()
        if form is None:
            raise NotFound()
        queryset = Submission.objects.filter(form=form)
        spam = self.request.query_params.get("spam")
        if spam in ("true", "false"):
            queryset = queryset.filter(is_spam=spam == "true")
        return queryset

    @extend_schema(
        summary="A form's submissions, spam included",
        description="Newest first. `?spam=true` or `?spam=false` to choose; the path takes "
        "the form's id (or its key).",
        parameters=[OpenApiParameter("spam", OpenApiTypes.BOOL, OpenApiParameter.QUERY)],
        responses={200: SubmissionSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND,
                   **ERRORS_ALWAYS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def dispatch(self, request, *args, **kwargs):
        """Public posts go to ``post`` past DRF's request wrapping, content negotiation
        and rendering (a tenth of a submission's CPU): it reads the body as DRF's parsers
        would and answers plain JSON. The list and the CORS preflight are DRF's."""
        if request.method != "POST":
            return super().dispatch(request, *args, **kwargs)
        self.args, self.kwargs, self.request = args, kwargs, request
        return self.post(request, **kwargs)

    def _cors(self, response, form):
        origin = self.request.headers.get("Origin")
        if origin and form is not None and public.origin_allowed(self.request, form):
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Content-Type, Idempotency-Key"
            response["Access-Control-Max-Age"] = str(CORS_MAX_AGE)
            # So a script can read how long to wait after a 429.
            response["Access-Control-Expose-Headers"] = "Retry-After"
        response["Vary"] = "Origin"
        return response

    @extend_schema(exclude=True)
    def options(self, request, form_key: str):
        """CORS preflight: allowed origins get the headers; others get none (403)."""
        form = public.live_form(form_key)
        if form is None:
            return Response({"detail": "Not found."}, status=404)
        if not public.origin_allowed(request, form):
            return Response({"detail": "This origin may not post to this form."}, status=403)
        return self._cors(Response(status=204), form)

    @extend_schema(
        summary="Submit a form (public)",
        description=(
            "What a website posts: the form's fields by name, as JSON or urlencoded. "
            "No login. Fields that are not on the form are ignored and listed in "
            "`ignored_fields`. An `Idempotency-Key` header makes a retry return the first "
            "answer; reusing a key with a different body is a 422. Browsers may post "
            "only from the form's allowed origins (CORS). Spam is stored in the Spam "
            "folder and answered like any other post (its `lead` names no lead)."
        ),
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-www-form-urlencoded": OpenApiTypes.OBJECT,
        },
        parameters=[
            OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER),
        ],
        responses={
            201: CREATED,
            400: ERRORS,
            403: DETAIL,
            404: DETAIL,
            413: DETAIL,
            415: DETAIL,
            422: DETAIL,
            429: DETAIL,
        },
        auth=[],
    )
    def post(self, request, form_key: str):
        # The form as this process has it cached, unchecked: the submission's one
        # statement checks it is still live and unchanged. When it is not, nothing was
        # stored; the post is judged again, once, by the form as it is now.
        return public.posted_to_live_form(
            form_key, lambda form, **how: self._post(request, form, **how))

    def _post(self, request, form, *, unchecked: bool, count: bool):
        """``count``: count the post against the rate limits (not again when the form
        changed under it)."""
        if form is None:
            # Readable by any page (nothing to protect): an embed of a form that was
            # unpublished can say so instead of retrying as if the network failed.
            response = _json({"detail": "Not found."}, 404)
            response["Access-Control-Allow-Origin"] = "*"
            return response
        if not public.origin_allowed(request, form):
            public.before_refusing(form, unchecked=unchecked)
            return _json({"detail": "This origin may not post to this form."}, 403)
        if public.body_too_large(request):
            return self._cors(_json(
                {"detail": f"The body is larger than {settings.FORM_MAX_BODY_BYTES} bytes."}, 413
            ), form)
        throttled = public.throttle(request, form) if count else None
        if throttled:
            response = _json({"detail": "Too many submissions; retry later."}, 429)
            response["Retry-After"] = str(throttled.retry_after)
            return self._cors(response, form)
        try:
            data = _posted_fields(request)
        except ParseError as exc:
            return self._cors(_errors({"body": [str(exc.detail)]}), form)
        except UnsupportedMediaType as exc:
            return self._cors(_json({"detail": str(exc.detail)}, 415), form)
        if not isinstance(data, dict):
            return self._cors(_errors({"body": ["Send a JSON object of field: value."]}), form)

        context = SubmissionContext(
            channel=Channel.EMBED if data.get(TOKEN_FIELD) else Channel.API,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            page_url=request.headers.get("Referer", ""),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        try:
            outcome = submission_record(
                form=form, fields=list(form.fields.all()), data=data, context=context,
                form_unchecked=unchecked,
            )
        except SubmissionInvalid as exc:
            public.before_refusing(form, unchecked=unchecked)
            return self._cors(_errors(exc.errors), form)
        except IdempotencyConflict:
            return self._cors(_json(
                {"detail": "This Idempotency-Key was used with a different body."}, 422
            ), form)
        return self._cors(_json(
            {
                "lead": outcome.answer_lead_id,
                "submission": outcome.submission.pk,
                "ignored_fields": outcome.ignored_fields,
                "thank_you_message": form.thank_you_message,
                "redirect_url": form.redirect_url,
            },
            201,
        ), form)
