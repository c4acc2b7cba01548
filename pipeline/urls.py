from django.urls import path

from pipeline import views

app_name = "pipeline"

urlpatterns = [
    path("leads/", views.LeadListView.as_view(), name="lead_list"),
    path("leads/new/", views.LeadCreateView.as_view(), name="lead_create"),
    path("leads/<int:pk>/", views.LeadDetailView.as_view(), name="lead_detail"),
    path("leads/<int:pk>/edit/", views.LeadUpdateView.as_view(), name="lead_update"),
    path("leads/<int:pk>/delete/", views.LeadDeleteView.as_view(), name="lead_delete"),
    path("leads/<int:pk>/move/", views.BoardMoveView.as_view(), name="lead_move"),
    path("leads/<int:pk>/deal/", views.LeadDealView.as_view(), name="lead_deal"),
    path("leads/<int:pk>/bant/", views.LeadBantView.as_view(), name="lead_bant"),
    path("leads/<int:pk>/notes/", views.LeadNoteCreateView.as_view(), name="lead_note_add"),
    path("leads/<int:pk>/notes/<int:note_id>/", views.LeadNoteUpdateView.as_view(),
         name="lead_note_edit"),
    path("leads/<int:pk>/tasks/", views.LeadTaskCreateView.as_view(), name="lead_task_add"),
    path("tasks/", views.MyTasksView.as_view(), name="my_tasks"),
    path("tasks/<int:task_id>/done/", views.TaskDoneView.as_view(), name="task_done"),
    path("board/", views.BoardView.as_view(), name="board"),
    path("board/column/<str:stage>/", views.BoardColumnView.as_view(), name="board_column"),
    path("board/poll/", views.BoardPollView.as_view(), name="board_poll"),
    path("board/rejections/", views.RejectionReportView.as_view(), name="rejections"),
]
