from leadhub.views_common import ComingSoonView


class FormListView(ComingSoonView):
    section = "Forms"
    description = (
        "Build lead-capture forms and landing pages, publish them as a hosted page, an HTML "
        "snippet or a JS embed, and read every submission in an inbox with a spam folder."
    )
