"""Account pages: log-in and log-out (audited), sign-up, access tokens, members, audit trail."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services
from .access import Actor, project_for, role_in
from .audit import audit_record, client_ip
from .forms import MemberAddForm, MemberRoleForm, PasswordChangeForm, SignupForm, TokenCreateForm
from .models import AuditAction, Project, Role

AUDIT_PAGE_SIZE = 50


class LoginView(auth_views.LoginView):
    """Django's log-in, recording successes and failures in the audit trail."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["signup_enabled"] = settings.MLPLATFORM_SIGNUP_ENABLED
        return context

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(user=form.get_user(), action=AuditAction.LOGIN, ip=client_ip(self.request))
        return response

    def form_invalid(self, form):
        # django-axes has flagged the request by now; its middleware answers with the lockout.
        locked = getattr(self.request, "axes_locked_out", False)
        audit_record(
            user=None,
            username=str(form.data.get("username", ""))[:150],
            action=AuditAction.LOGIN_FAILED,
            ip=client_ip(self.request),
            detail="locked out" if locked else "",
        )
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    """Django's log-out (POST only; it flushes the session on the server), audited."""

    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            audit_record(user=request.user, action=AuditAction.LOGOUT, ip=client_ip(request))
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, with wrong old passwords counted by django-axes."""

    form_class = PasswordChangeForm

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"request": self.request}


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if not settings.MLPLATFORM_SIGNUP_ENABLED:
        raise Http404("Sign-up is turned off; ask an admin for an account.")
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.user_signup(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/signup.html", {"form": form})


def _tracking_uri(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


@login_required
# The plaintext of a new token must not outlive its page: never_cache sends no-store.
@never_cache
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's tokens; creating one shows its plaintext in this response only."""
    form = TokenCreateForm(request.POST or None, user=request.user)
    new_token = plaintext = None
    if request.method == "POST" and form.is_valid():
        try:
            new_token, plaintext = services.token_create(
                user=request.user,
                project=form.cleaned_data["project"],
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=form.expires_at(),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form = TokenCreateForm(user=request.user)
    context = {
        "form": form,
        "tokens": selectors.token_list_for_user(user=request.user),
        "new_token": new_token,
        "plaintext": plaintext,
        "tracking_uri": _tracking_uri(request),
    }
    return render(request, "accounts/tokens.html", context)


def _next_or(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one token: its user's own, or any of a project the caller manages."""
    token = selectors.token_for_user(actor=Actor.from_request(request), token_id=token_id)
    services.token_revoke(token=token, by=request.user)
    messages.success(request, f"The token “{token.name}” is revoked.")
    return redirect(_next_or(request, reverse("accounts:tokens")))


def _members_page(
    request: HttpRequest, project: Project, add_form: MemberAddForm | None = None
) -> HttpResponse:
    actor = Actor.from_request(request)
    role = role_in(actor=actor, project=project)
    context = {
        "project": project,
        "memberships": selectors.membership_list(actor=actor, project=project),
        "can_manage": role is not None and role.covers(Role.MANAGER),
        "add_form": add_form or MemberAddForm(),
        "roles": Role.choices,
    }
    return render(request, "accounts/members.html", context)


@login_required
@require_GET
def members(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's members: a list for everyone in it, the forms for its managers."""
    project = project_for(actor=Actor.from_request(request), slug=slug)
    return _members_page(request, project)


@login_required
@require_POST
def member_add(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for(actor=Actor.from_request(request), slug=slug, need=Role.MANAGER)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            membership = services.membership_add(
                project=project,
                identifier=form.cleaned_data["identifier"],
                role=form.cleaned_data["role"],
                by=request.user,
            )
        except ValidationError as exc:
            form.add_error("identifier", exc)
        else:
            messages.success(
                request,
                f"{membership.user.get_username()} is now {membership.role} of the project.",
            )
            return redirect("accounts:members", slug=project.slug)
    return _members_page(request, project, add_form=form)


@login_required
@require_POST
def member_role(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    project = project_for(actor=Actor.from_request(request), slug=slug, need=Role.MANAGER)
    membership = selectors.membership_for(project=project, membership_id=membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role: viewer, editor or manager.")
    else:
        try:
            services.membership_change_role(
                membership=membership, role=form.cleaned_data["role"], by=request.user
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{membership.user.get_username()} is now {membership.role}.")
    return redirect("accounts:members", slug=project.slug)


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    project = project_for(actor=Actor.from_request(request), slug=slug, need=Role.MANAGER)
    membership = selectors.membership_for(project=project, membership_id=membership_id)
    try:
        services.membership_remove(membership=membership, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"{membership.user.get_username()} is no longer a member of the project."
        )
    return redirect("accounts:members", slug=project.slug)


@login_required
@require_GET
def project_tokens(request: HttpRequest, slug: str) -> HttpResponse:
    """Every token of the project, for its managers to see and revoke."""
    actor = Actor.from_request(request)
    project = project_for(actor=actor, slug=slug, need=Role.MANAGER)
    context = {
        "project": project,
        "tokens": selectors.token_list_for_project(actor=actor, project=project),
    }
    return render(request, "accounts/project_tokens.html", context)


@login_required
@require_GET
def audit(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's audit trail, newest first, for its managers."""
    actor = Actor.from_request(request)
    project = project_for(actor=actor, slug=slug, need=Role.MANAGER)
    events = selectors.audit_event_list(actor=actor, project=project).select_related("user")
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/audit.html", {"project": project, "page": page})
