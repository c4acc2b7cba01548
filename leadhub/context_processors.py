from django.urls import reverse

# (label, url name, the path prefix that marks it active, bootstrap icon)
NAV_ITEMS = [
    ("Leads", "pipeline:lead_list", "/leads/", "people"),
    ("Board", "pipeline:board", "/board/", "kanban"),
    ("Dashboard", "pipeline:dashboard", "/dashboard/", "graph-up"),
    ("Forms", "capture:form_list", "/forms/", "ui-checks"),
    ("Scoring", "scoring:index", "/scoring/", "speedometer2"),
    ("Nurture", "nurture:index", "/nurture/", "envelope-paper"),
    ("Settings", "settings:index", "/settings/", "gear"),
]


def navigation(request):
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    path = request.path
    return {
        "nav_items": [
            {"label": label, "url": reverse(name), "active": path.startswith(prefix), "icon": icon}
            for label, name, prefix, icon in NAV_ITEMS
        ]
    }
