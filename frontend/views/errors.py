"""Our own error pages, so a missing or forbidden page still looks like the application."""

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader


def not_found(request, exception=None):
    return render(request, "404.html", status=404)


def forbidden(request, exception=None):
    message = str(exception) if exception and str(exception) else None
    return render(request, "403.html", {"message": message}, status=403)


def server_error(request):
    # Without the request's context processors, which may be what broke (the database, say).
    return HttpResponseServerError(loader.get_template("500.html").render())
