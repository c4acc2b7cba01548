"""``leads/<id>/transitions/``, ``leads/<id>/notes/`` and ``leads/<id>/tasks/``.

Reading needs capture.view_lead (who may see the lead may read its history); writing
needs leadhub.work_pipeline (sales reps and admins). Writes go through pipeline.services,
so a move refused here is refused on the board too, with the same message.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from capture.models import Lead, Stage
from leadhub.api import BAD_REQUEST, ERRORS_ALWAYS, ERRORS_WRITES, NOT_FOUND, has_capability
from pipeline.models import Note, NoteKind, StageTransition, Task
from pipeline.selectors import PIPELINE_PERMISSION, move_refusal
from pipeline.services import lead_change_stage, note_add, note_edit, task_add, task_complete

VIEW_LEAD = "capture.view_lead"


class TransitionSerializer(serializers.ModelSerializer):
    by_user_name = serializers.SerializerMethodField()

    class Meta:
        model = StageTransition
        fields = ["id", "lead", "from_stage", "to_stage", "by_user", "by_user_name",
                  "by_system", "reason", "created_at"]
        read_only_fields = fields

    def get_by_user_name(self, transition: StageTransition) -> str:
        return transition.by_user.display_name if transition.by_user_id else ""


class TransitionInputSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=Stage.choices, help_text="The stage to move to.")
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, default="",
        help_text="Why (needed for disqualifying and for rejecting an MQL back to lead).",
    )


class NoteSerializer(serializers.ModelSerializer):
    author_name = serializers.SerializerMethodField()
    text = serializers.CharField(max_length=10_000, trim_whitespace=True)

    class Meta:
        model = Note
        fields = ["id", "lead", "author", "author_name", "kind", "text", "created_at",
                  "updated_at"]
        read_only_fields = ["id", "lead", "author", "author_name", "created_at", "updated_at"]

    def get_author_name(self, note: Note) -> str:
        return note.author.display_name if note.author_id else ""


class TaskSerializer(serializers.ModelSerializer):
    done = serializers.BooleanField(required=False, help_text="Mark done (true) or open.")
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=Task._meta.get_field("assignee").related_model.objects.filter(is_active=True),
        required=False, help_text="Defaults to you.",
        error_messages={"does_not_exist": "No active user has the id {pk_value}."},
    )

    class Meta:
        model = Task
        fields = ["id", "lead", "title", "due_at", "assignee", "created_by", "done",
                  "done_at", "created_at"]
        read_only_fields = ["id", "lead", "created_by", "done_at", "created_at"]

    def to_representation(self, task: Task) -> dict:
        data = super().to_representation(task)
        data["done"] = task.done_at is not None
        return data


def _lead(request, lead_id: int) -> Lead:
    return get_object_or_404(Lead.objects.visible_to(request.user), pk=lead_id)


def _service_errors(exc: DjangoValidationError, rename: dict[str, str] | None = None):
    rename = rename or {}
    if hasattr(exc, "error_dict"):
        return ValidationError({rename.get(k, k): DjangoValidationError(v).messages
                                for k, v in exc.error_dict.items()})
    return ValidationError({"non_field_errors": exc.messages})


class WritesNeedPipeline:
    """Reading needs view_lead; creating or changing needs work_pipeline too."""

    def get_permissions(self):
        if self.request.method in permissions.SAFE_METHODS:
            return [has_capability(VIEW_LEAD)()]
        return [has_capability(VIEW_LEAD)(), has_capability(PIPELINE_PERMISSION)()]


class LeadRecordList(WritesNeedPipeline, generics.ListCreateAPIView):
    filter_backends = []


@extend_schema_view(
    get=extend_schema(
        summary="A lead's stage history",
        description="Newest first. Follow `next`/`previous` to page.",
        responses={200: TransitionSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND,
                   **ERRORS_ALWAYS},
    ),
    post=extend_schema(
        summary="Move a lead to another stage",
        description=(
            "Checks the move like the board does: a move the pipeline does not allow (e.g. "
            "customer → MQL), a missing reason, or missing BANT qualification is a 400 on "
            "`to` (or `reason`), and nothing changes."
        ),
        request=TransitionInputSerializer,
        responses={201: TransitionSerializer, 400: BAD_REQUEST, 404: NOT_FOUND,
                   **ERRORS_WRITES},
    ),
)
class LeadTransitionList(LeadRecordList):
    serializer_class = TransitionSerializer
    queryset = StageTransition.objects.none()

    def get_queryset(self):
        lead = _lead(self.request, self.kwargs["lead_id"])
        return StageTransition.objects.filter(lead=lead).select_related("by_user")

    def create(self, request, *args, **kwargs):
        lead = _lead(request, self.kwargs["lead_id"])
        data = TransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refusal = move_refusal(request.user, lead)
        if refusal:
            raise PermissionDenied(refusal)
        to, reason = data.validated_data["to"], data.validated_data["reason"]
        try:
            transition = lead_change_stage(lead=lead, to_stage=to, actor=request.user,
                                           reason=reason)
        except DjangoValidationError as exc:
            raise _service_errors(exc, {"stage": "to"}) from exc
        return Response(TransitionSerializer(transition).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="A lead's notes", description="Newest first.",
                      responses={200: NoteSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND,
                                 **ERRORS_ALWAYS}),
    post=extend_schema(summary="Add a note to a lead",
                       responses={201: NoteSerializer, 400: BAD_REQUEST, 404: NOT_FOUND,
                                  **ERRORS_WRITES}),
)
class LeadNoteList(LeadRecordList):
    serializer_class = NoteSerializer
    queryset = Note.objects.none()

    def get_queryset(self):
        lead = _lead(self.request, self.kwargs["lead_id"])
        return Note.objects.filter(lead=lead).select_related("author")

    def create(self, request, *args, **kwargs):
        lead = _lead(request, self.kwargs["lead_id"])
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            note = note_add(lead=lead, author=request.user, text=serializer.validated_data["text"],
                            kind=serializer.validated_data.get("kind", NoteKind.NOTE))
        except DjangoValidationError as exc:
            raise _service_errors(exc) from exc
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="One note",
                      responses={200: NoteSerializer, 400: BAD_REQUEST, 404: NOT_FOUND,
                                 **ERRORS_ALWAYS}),
    patch=extend_schema(summary="Edit your note",
                        description="Only the note's author may edit it (403 otherwise).",
                        responses={200: NoteSerializer, 400: BAD_REQUEST, 404: NOT_FOUND,
                                   **ERRORS_WRITES}),
)
class LeadNoteDetail(WritesNeedPipeline, generics.RetrieveUpdateAPIView):
    serializer_class = NoteSerializer
    queryset = Note.objects.none()
    http_method_names = ["get", "patch", "head", "options"]


    def get_object(self):
        lead = _lead(self.request, self.kwargs["lead_id"])
        return get_object_or_404(Note.objects.select_related("author", "lead"), lead=lead,
                                 pk=self.kwargs["pk"])

    def update(self, request, *args, **kwargs):
        note = self.get_object()
        serializer = NoteSerializer(note, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "text" not in serializer.validated_data:
            raise ValidationError({"text": ["This field is required."]})
        try:
            note = note_edit(note=note, editor=request.user,
                             text=serializer.validated_data["text"])
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        except DjangoValidationError as exc:
            raise _service_errors(exc) from exc
        return Response(NoteSerializer(note).data)


@extend_schema_view(
    get=extend_schema(summary="A lead's tasks", description="Soonest due first.",
                      responses={200: TaskSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND,
                                 **ERRORS_ALWAYS}),
    post=extend_schema(summary="Add a task to a lead",
                       responses={201: TaskSerializer, 400: BAD_REQUEST, 404: NOT_FOUND,
                                  **ERRORS_WRITES}),
)
class LeadTaskList(LeadRecordList):
    serializer_class = TaskSerializer
    queryset = Task.objects.none()
    orderings = {"due_at": ("due_at", "id")}
    default_ordering = "due_at"

    def get_queryset(self):
        lead = _lead(self.request, self.kwargs["lead_id"])
        return Task.objects.filter(lead=lead)

    def create(self, request, *args, **kwargs):
        lead = _lead(request, self.kwargs["lead_id"])
        serializer = TaskSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        try:
            task = task_add(lead=lead, creator=request.user, title=fields["title"],
                            due_at=fields["due_at"], assignee=fields.get("assignee"))
        except DjangoValidationError as exc:
            raise _service_errors(exc) from exc
        if fields.get("done"):
            task = task_complete(task=task, actor=request.user)
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="One task",
                      responses={200: TaskSerializer, 400: BAD_REQUEST, 404: NOT_FOUND,
                                 **ERRORS_ALWAYS}),
    patch=extend_schema(summary="Complete or reopen a task",
                        description="Send `done`. The assignee, the creator or an admin.",
                        responses={200: TaskSerializer, 400: BAD_REQUEST, 404: NOT_FOUND,
                                   **ERRORS_WRITES}),
)
class LeadTaskDetail(WritesNeedPipeline, generics.RetrieveUpdateAPIView):
    serializer_class = TaskSerializer
    queryset = Task.objects.none()
    http_method_names = ["get", "patch", "head", "options"]


    def get_object(self):
        lead = _lead(self.request, self.kwargs["lead_id"])
        return get_object_or_404(Task.objects.select_related("lead"), lead=lead,
                                 pk=self.kwargs["pk"])

    def update(self, request, *args, **kwargs):
        task = self.get_object()
        user = request.user
        if user.pk not in (task.assignee_id, task.created_by_id) and not user.has_perm(
            "leadhub.manage_users"
        ):
            raise PermissionDenied("Only the task's assignee or creator may change it.")
        serializer = TaskSerializer(task, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "done" not in serializer.validated_data:
            raise ValidationError({"done": ["This field is required."]})
        task = task_complete(task=task, actor=user, done=serializer.validated_data["done"])
        return Response(TaskSerializer(task).data)


urlpatterns = [
    path("leads/<id:lead_id>/transitions/", LeadTransitionList.as_view(),
         name="lead-transitions"),
    path("leads/<id:lead_id>/notes/", LeadNoteList.as_view(), name="lead-notes"),
    path("leads/<id:lead_id>/notes/<id:pk>/", LeadNoteDetail.as_view(), name="lead-note"),
    path("leads/<id:lead_id>/tasks/", LeadTaskList.as_view(), name="lead-tasks"),
    path("leads/<id:lead_id>/tasks/<id:pk>/", LeadTaskDetail.as_view(), name="lead-task"),
]
