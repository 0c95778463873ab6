"""The projects page and creating a project."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render

from accounts.access import Actor, can_create_project
from frontend.forms import ProjectForm
from tracking.selectors import project_list
from tracking.services.projects import ProjectSlugTaken, project_create


@login_required
def home(request):
    projects = project_list(actor=Actor.from_request(request))
    return render(
        request,
        "frontend/home.html",
        {"projects": projects, "can_create": can_create_project(request.user)},
    )


@login_required
def project_new(request):
    if not can_create_project(request.user):
        raise PermissionDenied("Only site admins may create projects here.")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(
                slug=form.cleaned_data["slug"],
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                owner=request.user,
            )
        except ProjectSlugTaken as exc:
            form.add_error("slug", str(exc))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Project {project.name} created.")
            return redirect("project", slug=project.slug)
    return render(request, "frontend/project_new.html", {"form": form})
