from django.urls import path

from pipeline import views

app_name = "pipeline"

urlpatterns = [
    path("leads/", views.LeadListView.as_view(), name="lead_list"),
    path("leads/new/", views.LeadCreateView.as_view(), name="lead_create"),
    path("leads/<id:pk>/", views.LeadDetailView.as_view(), name="lead_detail"),
    path("leads/<id:pk>/edit/", views.LeadUpdateView.as_view(), name="lead_update"),
    path("leads/<id:pk>/contact/", views.LeadContactView.as_view(), name="lead_contact"),
    path("leads/<id:pk>/delete/", views.LeadDeleteView.as_view(), name="lead_delete"),
    path("leads/<id:pk>/move/", views.BoardMoveView.as_view(), name="lead_move"),
    path("leads/<id:pk>/deal/", views.LeadDealView.as_view(), name="lead_deal"),
    path("leads/<id:pk>/bant/", views.LeadBantView.as_view(), name="lead_bant"),
    path("leads/<id:pk>/notes/", views.LeadNoteCreateView.as_view(), name="lead_note_add"),
    path("leads/<id:pk>/notes/<id:note_id>/", views.LeadNoteUpdateView.as_view(),
         name="lead_note_edit"),
    path("leads/<id:pk>/tasks/", views.LeadTaskCreateView.as_view(), name="lead_task_add"),
    path("tasks/", views.MyTasksView.as_view(), name="my_tasks"),
    path("tasks/<id:task_id>/done/", views.TaskDoneView.as_view(), name="task_done"),
    path("board/", views.BoardView.as_view(), name="board"),
    path("board/column/<str:stage>/", views.BoardColumnView.as_view(), name="board_column"),
    path("board/poll/", views.BoardPollView.as_view(), name="board_poll"),
    path("board/rejections/", views.RejectionReportView.as_view(), name="rejections"),
    path("dashboard/", views.DashboardView.as_view(), name="dashboard"),
    path("notifications/", views.NotificationListView.as_view(), name="notifications"),
    path("notifications/read/", views.NotificationReadView.as_view(), name="notifications_read"),
    path("notifications/badge/", views.NotificationBadgeView.as_view(),
         name="notifications_badge"),
    path("notifications/<id:pk>/", views.NotificationOpenView.as_view(),
         name="notification_open"),
]
