from leadhub.views_common import ComingSoonView


class NurtureIndexView(ComingSoonView):
    section = "Nurture"
    description = (
        "Drip email sequences that keep not-yet-ready leads warm, send each step once, "
        "and stop as soon as a lead shows intent or unsubscribes."
    )
