"""The Content Security Policy, on what a browser renders as a page."""

from __future__ import annotations

from csp.middleware import CSPMiddleware


class PageCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, skipping JSON answers: a browser never renders one as a document,
    and django-csp builds the whole policy for every response before it looks at exemptions, a
    cost every API request would pay for nothing."""

    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        return super().process_response(request, response)
