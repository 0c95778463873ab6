from django.urls import path

from frontend.views import projects

urlpatterns = [
    path("", projects.home, name="home"),
]
