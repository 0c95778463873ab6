"""OpenAPI description of our token authentication, so the schema and docs show it."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API token (`mlp_...`) from the Access tokens page, as "
                "`Authorization: Bearer <token>`, `Authorization: Token <token>`, or as the "
                "password of HTTP Basic with any username."
            ),
        }
