"""``GET /api/v1/board/``: the board's data, with the board's filters and a keyset cursor
per column. A fixed number of queries whatever the number of leads."""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from capture.models import Stage
from leadhub.api import BAD_REQUEST, ERRORS_ALWAYS, has_capability
from pipeline.board import (
    ALL_STAGES,
    CARDS_PER_COLUMN,
    BadCursor,
    CardMaker,
    column_page,
    cursor_decode,
    first_pages,
    totals_json,
)
from pipeline.selectors import BOARD_FILTER_PARAMS, BoardFilter, board_filter, board_sql_key

MAX_PAGE_SIZE = 200

CARD = inline_serializer("BoardCard", {
    "id": serializers.IntegerField(),
    "name": serializers.CharField(),
    "email": serializers.CharField(),
    "company": serializers.CharField(),
    "score": serializers.IntegerField(),
    "grade": serializers.CharField(),
    "stage": serializers.CharField(),
    "owner": serializers.IntegerField(allow_null=True),
    "owner_name": serializers.CharField(),
    "stage_changed_at": serializers.DateTimeField(),
    "last_activity_at": serializers.DateTimeField(),
    "deal_value": serializers.CharField(allow_null=True),
    "stale": serializers.BooleanField(),
    "sla_breach": serializers.BooleanField(),
})
COLUMN = inline_serializer("BoardColumn", {
    "stage": serializers.CharField(),
    "label": serializers.CharField(),
    "count": serializers.IntegerField(),
    "deal_total": serializers.CharField(),
    "results": CARD.__class__(many=True),
    "next_cursor": serializers.CharField(allow_null=True),
})


class BoardData(APIView):
    permission_classes = [has_capability("capture.view_lead")]
    filterset_class = BoardFilter  # for the schema's query parameters

    @extend_schema(
        summary="The pipeline board",
        description=(
            "Per stage: the count, the sum of deal values and the first page of cards "
            "(highest score first). Filters are the leads list's plus `score_min`, "
            "`score_max`, `campaign`, `form` and `created`. To page one column, pass "
            "`column=<stage>` and that column's `next_cursor` as `cursor`."
        ),
        parameters=[
            OpenApiParameter("column", OpenApiTypes.STR, enum=[s.value for s in ALL_STAGES],
                             description="Only this column."),
            OpenApiParameter("cursor", OpenApiTypes.STR,
                             description="The column's next_cursor (needs `column`)."),
            OpenApiParameter("page_size", OpenApiTypes.INT,
                             description=f"Cards per column, 1 to {MAX_PAGE_SIZE}."),
        ],
        responses={200: inline_serializer("Board", {"columns": COLUMN.__class__(many=True)}),
                   400: BAD_REQUEST, **ERRORS_ALWAYS},
    )
    def get(self, request):
        params = request.query_params
        column = params.get("column", "")
        if column and column not in ALL_STAGES:
            raise ValidationError({"column": [f"Choose one of: {', '.join(ALL_STAGES)}."]})
        if params.get("cursor") and not column:
            raise ValidationError({"cursor": ["A cursor belongs to one column: give `column`."]})
        try:
            after = cursor_decode(params.get("cursor"))
        except BadCursor:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        size = params.get("page_size", str(CARDS_PER_COLUMN))
        if not (size.isascii() and size.isdigit() and 1 <= int(size) <= MAX_PAGE_SIZE):
            raise ValidationError({"page_size": [f"Give a number from 1 to {MAX_PAGE_SIZE}."]})
        filterset = board_filter(user=request.user, params=params, request=request)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        leads = filterset.qs
        # The filters in a canonical order (not the cursor or the column): the key of
        # the short-lived totals cache.
        filters = sorted((k, v) for k, v in params.lists() if k in BOARD_FILTER_PARAMS)
        totals = totals_json(leads, cache_key=f"{request.user.pk}:{filters}")
        maker = CardMaker()
        columns = []
        stages = [Stage(column)] if column else list(ALL_STAGES)
        limit = int(size)
        reuse = board_sql_key(user=request.user, params=params)
        pages = first_pages(leads, stages, maker=maker, limit=limit, as_json=True,
                            reuse=reuse) if after is None else {stages[0]: column_page(
                leads, stages[0], after=after, maker=maker, limit=limit, as_json=True)}
        for stage in stages:
            cards, cursor = pages[stage]
            columns.append({
                "stage": stage.value,
                "label": stage.label,
                "count": totals[stage]["count"],
                "deal_total": totals[stage]["deal_total"],
                "results": cards,
                "next_cursor": cursor,
            })
        return Response({"columns": columns})


urlpatterns = [path("board/", BoardData.as_view(), name="board")]
