from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class PipelineConfig(AppConfig):
    name = "pipeline"
    verbose_name = "Pipeline"

    def ready(self) -> None:
        from pipeline.board import board_settings_changed
        from pipeline.models import PipelineSettings, StageLimit

        # What every board card reads is cached (pipeline.board.board_settings).
        for model in (PipelineSettings, StageLimit):
            for signal in (post_save, post_delete):
                signal.connect(board_settings_changed, sender=model,
                               dispatch_uid=f"board-settings-{model.__name__}-{signal}")
