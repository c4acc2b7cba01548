from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import TemplateView


class ComingSoonView(LoginRequiredMixin, TemplateView):
    """A section whose issue has not landed yet: reachable, honest, and no dead link."""

    template_name = "includes/coming_soon.html"
    section = ""
    description = ""

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            section=self.section, description=self.description, **kwargs
        )
