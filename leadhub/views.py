from django.shortcuts import redirect


def home(request):
    """``/``: the board for people who are signed in, the login page for everyone else."""
    if request.user.is_authenticated:
        return redirect("pipeline:board")
    return redirect("login")
