"""Public URLs that sent emails hold (no login). Paths are a contract: they are in
emails already delivered."""

from django.urls import path

from nurture import public

app_name = "nurture-public"

urlpatterns = [
    path("e/o/<str:token>.gif", public.open_pixel, name="open"),
    path("e/c/<str:token>/", public.click, name="click"),
    path("e/u/<str:token>/", public.unsubscribe, name="unsubscribe"),
]
