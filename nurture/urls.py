from django.urls import path

from nurture import views

app_name = "nurture"

urlpatterns = [
    path("", views.NurtureIndexView.as_view(), name="index"),
]
