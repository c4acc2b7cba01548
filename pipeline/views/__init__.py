"""HTML views of the pipeline: the leads pages (leads.py), the board (board.py), a
lead's deal, qualification, notes and tasks (records.py), and the funnel dashboard
(dashboard.py)."""

from pipeline.views.board import (  # noqa: F401
    BoardColumnView,
    BoardMoveView,
    BoardPollView,
    BoardView,
    RejectionReportView,
)
from pipeline.views.dashboard import DashboardView  # noqa: F401
from pipeline.views.leads import (  # noqa: F401
    LeadContactView,
    LeadCreateView,
    LeadDeleteView,
    LeadDetailView,
    LeadListView,
    LeadUpdateView,
)
from pipeline.views.notifications import (  # noqa: F401
    NotificationBadgeView,
    NotificationListView,
    NotificationOpenView,
    NotificationReadView,
)
from pipeline.views.records import (  # noqa: F401
    LeadBantView,
    LeadDealView,
    LeadNoteCreateView,
    LeadNoteUpdateView,
    LeadTaskCreateView,
    MyTasksView,
    TaskDoneView,
)
