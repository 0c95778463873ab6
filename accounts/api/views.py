"""`/api/v1/`: who the caller is, their projects, members and API tokens."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.access import Actor, project_for
from accounts.models import Role
from mlplatform.api.base import NativeAPIView

from .serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    MemberAddSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    MeSerializer,
)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _session_only(actor: Actor, what: str) -> None:
    # A leaked token must not be able to mint more credentials or projects.
    if actor.token is not None:
        raise PermissionDenied(f"{what} needs a browser session, not an API token.")


class MeView(NativeAPIView):
    @extend_schema(responses=MeSerializer, summary="The authenticated user and token")
    def get(self, request: Request) -> Response:
        actor = Actor.from_request(request)
        user = actor.user
        token = actor.token
        data = {
            "id": user.pk,
            "username": user.get_username(),
            "email": user.email,
            "is_staff": user.is_staff,
            "token": (
                {
                    "project": token.project.slug,
                    "scope": token.scope,
                    "expires_at": token.expires_at,
                }
                if token is not None
                else None
            ),
        }
        return Response(MeSerializer(data).data)


# --- members --------------------------------------------------------------------------------


class MemberListView(NativeAPIView):
    @extend_schema(
        summary="The project's members (managers)", responses=MemberSerializer(many=True)
    )
    def get(self, request: Request, slug: str) -> Response:
        actor = Actor.from_request(request)
        project = project_for(actor=actor, slug=slug, need=Role.MANAGER)
        members = selectors.membership_list(actor=actor, project=project)
        context = {"viewer": actor.user}
        return Response(MemberSerializer(members, many=True, context=context).data)

    @extend_schema(
        summary="Add a user to the project (managers)",
        request=MemberAddSerializer,
        responses={201: MemberSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = Actor.from_request(request)
        project = project_for(actor=actor, slug=slug, need=Role.MANAGER)
        data = _valid(MemberAddSerializer, request.data)
        membership = services.membership_add(
            project=project, identifier=data["user"], role=data["role"], by=actor.user
        )
        context = {"viewer": actor.user}
        return Response(MemberSerializer(membership, context=context).data, status=201)


class MemberDetailView(NativeAPIView):
    @extend_schema(
        summary="Change a member's role (managers)",
        request=MemberUpdateSerializer,
        responses=MemberSerializer,
    )
    def patch(self, request: Request, slug: str, membership_id: int) -> Response:
        actor = Actor.from_request(request)
        project = project_for(actor=actor, slug=slug, need=Role.MANAGER)
        membership = selectors.membership_for(project=project, membership_id=membership_id)
        data = _valid(MemberUpdateSerializer, request.data)
        membership = services.membership_change_role(
            membership=membership, role=data["role"], by=actor.user
        )
        return Response(MemberSerializer(membership, context={"viewer": actor.user}).data)

    @extend_schema(
        summary="Remove a member and revoke their tokens (managers)", responses={204: None}
    )
    def delete(self, request: Request, slug: str, membership_id: int) -> Response:
        actor = Actor.from_request(request)
        project = project_for(actor=actor, slug=slug, need=Role.MANAGER)
        membership = selectors.membership_for(project=project, membership_id=membership_id)
        services.membership_remove(membership=membership, by=actor.user)
        return Response(status=204)


# --- tokens ---------------------------------------------------------------------------------


class TokenListView(NativeAPIView):
    @extend_schema(summary="The caller's API tokens", responses=ApiTokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        actor = Actor.from_request(request)
        tokens = selectors.token_list_for_user(user=actor.user)
        if actor.token is not None:
            tokens = tokens.filter(project_id=actor.token.project_id)
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(
        summary="Create an API token; the plaintext is in this response only",
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
    )
    def post(self, request: Request) -> Response:
        actor = Actor.from_request(request)
        _session_only(actor, "Creating a token")
        data = _valid(ApiTokenCreateSerializer, request.data)
        project = project_for(actor=actor, slug=data["project"])
        token, plaintext = services.token_create(
            user=actor.user,
            project=project,
            name=data["name"],
            scope=data["scope"],
            expires_at=data.get("expires_at"),
        )
        body = ApiTokenSerializer(token).data | {"token": plaintext}
        response = Response(body, status=201)
        response["Cache-Control"] = "no-store"
        return response


class TokenDetailView(NativeAPIView):
    @extend_schema(
        summary="Revoke a token: the caller's own, or any of a project they manage",
        responses={204: None},
    )
    def delete(self, request: Request, token_id: int) -> Response:
        actor = Actor.from_request(request)
        token = selectors.token_for_user(actor=actor, token_id=token_id)
        services.token_revoke(token=token, by=actor.user)
        return Response(status=204)
