from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.defaults import server_error as html_server_error


def home(request):
    """``/``: the board for people who are signed in, the login page for everyone else."""
    if request.user.is_authenticated:
        return redirect("pipeline:board")
    return redirect("login")


def server_error(request, *args, **kwargs):
    """The 500 answer: JSON for API clients (which cannot read an HTML page), the
    plain HTML page for people."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error. It was logged; please retry later."},
                            status=500)
    return html_server_error(request, *args, **kwargs)
