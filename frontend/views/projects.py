"""The projects page: the signed-in user's projects."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.access import Actor
from tracking.selectors import project_list


@login_required
def home(request):
    projects = project_list(actor=Actor.from_request(request))
    return render(request, "frontend/home.html", {"projects": projects})
