from leadhub.views_common import ComingSoonView


class ScoringIndexView(ComingSoonView):
    section = "Scoring"
    description = (
        "Behaviour rules that add or subtract points when leads act, fit rules that grade "
        "them A–F against your ideal customer, and the threshold that makes a lead an MQL."
    )
