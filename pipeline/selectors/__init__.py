"""The pipeline's reads: leads and their filters (leads.py), the board (board.py) and
the hand-off reports (reports.py). Import from here."""

from pipeline.selectors.access import (  # noqa: F401
    ADMIN_PERMISSION,
    PIPELINE_PERMISSION,
    move_refusal,
)
from pipeline.selectors.board import (  # noqa: F401
    BOARD_CARD_FIELDS,
    BOARD_FILTER_PARAMS,
    BOARD_TOTALS_SECONDS,
    BOARD_VERSION_KEY,
    PERIODS,
    BoardFilter,
    CardLead,
    board_changed,
    board_column_cards,
    board_column_totals,
    board_column_totals_cached,
    board_columns_first_cards,
    board_filter,
    board_sql_key,
)
from pipeline.selectors.leads import (  # noqa: F401
    DEFAULT_LEAD_ORDERING,
    LEAD_ORDERINGS,
    LEAD_SOURCES_CACHE_KEY,
    NO_GRADE,
    OWNER_ME,
    OWNER_NONE,
    LeadFilter,
    UTCDateTimeField,
    UTCDateTimeFilter,
    lead_list,
    lead_owners,
    lead_search,
    lead_sources,
    lead_timeline,
    timeline_group_counts,
)
from pipeline.selectors.reports import rejection_counts, sla_report  # noqa: F401
