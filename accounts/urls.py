"""Account pages under /accounts/: Django's auth views (global names, as Django expects them)
and our own pages in the `accounts` namespace."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

pages = [
    path("signup/", views.signup, name="signup"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("projects/<slug:slug>/members/", views.members, name="members"),
    path("projects/<slug:slug>/members/add/", views.member_add, name="member_add"),
    path(
        "projects/<slug:slug>/members/<int:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "projects/<slug:slug>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("projects/<slug:slug>/tokens/", views.project_tokens, name="project_tokens"),
    path("projects/<slug:slug>/audit/", views.audit, name="audit"),
]

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include((pages, "accounts"))),
]
