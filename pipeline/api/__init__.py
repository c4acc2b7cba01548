"""The pipeline's /api/v1/ routes: leads and their timeline (leads.py), stage
transitions, notes and tasks (records.py), the board's data (board.py) and assignment
rules (rules.py)."""

from pipeline.api.board import urlpatterns as board_urls
from pipeline.api.leads import LeadActivityList, LeadViewSet  # noqa: F401
from pipeline.api.leads import urlpatterns as lead_urls
from pipeline.api.records import urlpatterns as record_urls
from pipeline.api.rules import urlpatterns as rule_urls

urlpatterns = [*lead_urls, *record_urls, *board_urls, *rule_urls]
