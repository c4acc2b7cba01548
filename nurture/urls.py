from django.urls import path

from nurture.views import enrollments, sending, sequences

app_name = "nurture"

urlpatterns = [
    path("", sequences.SequenceListView.as_view(), name="index"),
    path("new/", sequences.SequenceEditorView.as_view(), name="new"),
    path("<id:pk>/", sequences.SequenceEditorView.as_view(), name="edit"),
    path("<id:pk>/status/", sequences.SequenceStatusView.as_view(), name="status"),
    path("<id:pk>/delete/", sequences.SequenceDeleteView.as_view(), name="delete"),
    path("<id:pk>/enrollments/", enrollments.EnrollmentListView.as_view(), name="enrollments"),
    path("<id:pk>/enrollments/add/", enrollments.EnrollmentAddView.as_view(),
         name="enrollment_add"),
    path("<id:pk>/emails/", enrollments.EmailListView.as_view(), name="emails"),
    path("enroll/", enrollments.LeadsEnrollView.as_view(), name="leads_enroll"),
    path("enrollments/<id:pk>/exit/", enrollments.EnrollmentExitView.as_view(),
         name="enrollment_exit"),
    path("settings/", sending.SendingSettingsView.as_view(), name="settings"),
    path("suppressions/", sending.SuppressionListView.as_view(), name="suppressions"),
    path("suppressions/add/", sending.SuppressionAddView.as_view(), name="suppression_add"),
    path("suppressions/<id:pk>/remove/", sending.SuppressionRemoveView.as_view(),
         name="suppression_remove"),
]
