"""gunicorn's settings for the web server, one set for `mlplatform server` and for a production
web node (`gunicorn mlplatform.wsgi -c python:mlplatform.gunicorn_conf --workers 4 ...`).
Options given on the command line override them."""

from mlplatform.gunicorn_worker import MAX_REQUEST_LINE

# The threaded worker keeps connections alive (gunicorn's default worker closes each one); this
# subclass answers an over-long URL in JSON, serves at once a request that arrived behind a body
# Django did not read, and serves a client's next request on the thread that answered its last
# (mlplatform/gunicorn_worker.py).
worker_class = "mlplatform.gunicorn_worker.ThreadWorker"
threads = 4
# MLflow's clients put up to 100 run ids in one GET (get-history-bulk-interval), past
# gunicorn's 4 kB default; its ceiling is 8 kB, and a longer URL gets a JSON 414.
limit_request_line = MAX_REQUEST_LINE
accesslog = "-"
# gunicorn 25+ opens a control socket at one fixed path per user by default, which two servers
# on one machine would fight over; these servers are stopped and reloaded through signals.
# Older versions ignore the name.
control_socket_disable = True
