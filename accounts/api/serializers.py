from rest_framework import serializers

from accounts.models import TokenScope
from accounts.selectors import may_see_email


class TokenInfoSerializer(serializers.Serializer):
    project = serializers.CharField(help_text="Slug of the only project the token reaches.")
    scope = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    is_staff = serializers.BooleanField()
    token = TokenInfoSerializer(
        allow_null=True, help_text="The token used for this call; null for a browser session."
    )


class ProjectSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    role = serializers.CharField(help_text="The caller's effective role in the project.")


class ProjectCreateSerializer(serializers.Serializer):
    slug = serializers.CharField(max_length=50)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    username = serializers.CharField(source="user.username")
    email = serializers.SerializerMethodField(
        help_text="Only the caller's own (superusers see every one); empty otherwise, so adding "
        "people by username cannot be used to collect their addresses."
    )
    role = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_email(self, membership) -> str:
        viewer = self.context.get("viewer")
        return membership.user.email if may_see_email(viewer, membership.user) else ""


class MemberAddSerializer(serializers.Serializer):
    user = serializers.CharField(max_length=254, help_text="Username or email address.")
    role = serializers.ChoiceField(choices=["viewer", "editor", "manager"], default="viewer")


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["viewer", "editor", "manager"])


class ApiTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    project = serializers.CharField(source="project.slug")
    scope = serializers.CharField()
    prefix = serializers.CharField(help_text="The start of the token, to recognise it.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="The plaintext token; shown this once, never again.")


class ApiTokenCreateSerializer(serializers.Serializer):
    project = serializers.CharField(help_text="Slug of the project the token reaches.")
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(
        choices=TokenScope.values,
        default=TokenScope.WRITE.value,
        help_text="read: viewer; write: up to editor; manage: up to manager (deletes).",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
