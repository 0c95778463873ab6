"""Native API for projects: listing, creating (with the Default experiment) and editing.

Here rather than in accounts/api because creating a project also creates its Default experiment,
and accounts must not depend on tracking.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services
from accounts.access import (
    Actor,
    can_create_project,
    effective_role,
    project_for,
    projects_for,
    role_in,
)
from accounts.api.serializers import (
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
)
from accounts.api.views import _session_only, _valid
from accounts.models import Membership, Role
from mlplatform.api.base import NativeAPIView
from tracking.services.projects import project_create


def _project_data(project, role: Role) -> dict:
    return {
        "slug": project.slug,
        "name": project.name,
        "description": project.description,
        "created_at": project.created_at,
        "role": role.value,
    }


class ProjectListView(NativeAPIView):
    @extend_schema(summary="The caller's projects", responses=ProjectSerializer(many=True))
    def get(self, request: Request) -> Response:
        actor = Actor.from_request(request)
        roles = Membership.objects.filter(project=OuterRef("pk"), user=actor.user).values("role")
        projects = projects_for(actor=actor).annotate(my_role=Subquery(roles[:1]))
        data = [
            _project_data(p, effective_role(actor=actor, member_role=p.my_role))
            for p in projects.order_by("name", "slug")
        ]
        return Response(ProjectSerializer(data, many=True).data)

    @extend_schema(
        summary="Create a project (the caller becomes its manager)",
        request=ProjectCreateSerializer,
        responses={201: ProjectSerializer},
    )
    def post(self, request: Request) -> Response:
        actor = Actor.from_request(request)
        _session_only(actor, "Creating a project")
        if not can_create_project(actor.user):
            raise PermissionDenied("Only staff may create projects here.")
        data = _valid(ProjectCreateSerializer, request.data)
        project = project_create(
            slug=data["slug"], name=data["name"], owner=actor.user, description=data["description"]
        )
        return Response(ProjectSerializer(_project_data(project, Role.MANAGER)).data, 201)


class ProjectDetailView(NativeAPIView):
    @extend_schema(summary="One project", responses=ProjectSerializer)
    def get(self, request: Request, slug: str) -> Response:
        actor = Actor.from_request(request)
        project = project_for(actor=actor, slug=slug)
        data = _project_data(project, role_in(actor=actor, project=project))
        return Response(ProjectSerializer(data).data)

    @extend_schema(
        summary="Rename a project or change its description (managers)",
        request=ProjectUpdateSerializer,
        responses=ProjectSerializer,
    )
    def patch(self, request: Request, slug: str) -> Response:
        actor = Actor.from_request(request)
        project = project_for(actor=actor, slug=slug, need=Role.MANAGER)
        data = _valid(ProjectUpdateSerializer, request.data)
        project = services.project_update(
            project=project, name=data.get("name"), description=data.get("description")
        )
        return Response(
            ProjectSerializer(_project_data(project, role_in(actor=actor, project=project))).data
        )
