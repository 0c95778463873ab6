"""The links the MLflow client prints, `http://host/#/experiments/<id>/runs/<run_id>`.

The fragment never reaches the server, so the landing page's script (static/frontend/app.js)
reads it and comes here; these resolve the ids to the pages of their project, through the one
access rule, so someone who cannot see the project gets 404.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_safe

from accounts.access import Actor
from tracking.selectors import experiment_for_user, run_for_user


@login_required
@require_safe
def go_experiment(request, experiment_id: int):
    experiment = experiment_for_user(actor=Actor.from_request(request), experiment_id=experiment_id)
    return redirect("experiment", slug=experiment.project.slug, experiment_id=experiment.pk)


@login_required
@require_safe
def go_run(request, experiment_id: int, run_id: str):
    # The run id alone is unique; the experiment in the link is only what the client printed.
    run = run_for_user(actor=Actor.from_request(request), run_id=run_id)
    return redirect("run", slug=run.experiment.project.slug, run_id=run.run_id)
