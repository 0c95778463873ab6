"""Our own error pages, so a missing or forbidden page still looks like the application."""

import sys

from django.http import HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from mlplatform.db.errors import database_unavailable


def not_found(request, exception=None):
    return render(request, "404.html", status=404)


def forbidden(request, exception=None):
    message = str(exception) if exception and str(exception) else None
    return render(request, "403.html", {"message": message}, status=403)


def server_error(request):
    # Without the request's context processors, which may be what broke (the database, say).
    # Django calls this while handling the exception, so it is the one being handled.
    if database_unavailable(sys.exception()):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = "5"
        return response
    return HttpResponseServerError(loader.get_template("500.html").render())
