"""The web server's worker: gunicorn's threaded worker, with three changes.

- An over-long URL is answered in JSON. Gunicorn reads the request line before Django sees the
  request, and refuses one over its 8,190-byte ceiling with an HTML page; an MLflow client asking
  for too many runs in one GET then gets an error it cannot read. The ceiling stays (unlimited, a
  client could grow a worker's memory without bound before authenticating); only the answer
  changes.
- A request that arrived behind a body the application did not read is served at once.
- A thread that answered a keep-alive request waits a moment for that client's next one while
  another thread is free, instead of handing the connection back to the polling thread.
"""

from __future__ import annotations

import json
import select
import socket
import threading

from gunicorn import util
from gunicorn.http.errors import LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker

# gunicorn's own ceiling: a larger limit is silently lowered to it.
MAX_REQUEST_LINE = 8190
# What is read and dropped of the rest of a refused request before closing, and for how long.
LINGER_BYTES = 64 * 1024
LINGER_SECONDS = 1.0
# How long a thread waits on its connection for the client's next request. A client in a loop
# (a sweep, a script logging step by step, a page's fetches) sends it well within this.
NEXT_REQUEST_WAIT = 0.002


def _tls_pending(sock) -> bool:
    """Whether a TLS socket holds decrypted bytes, which do not make it readable either."""
    pending = getattr(sock, "pending", None)
    return bool(pending and pending())


def _write_json(sock, status: str, payload: dict) -> None:
    body = json.dumps(payload).encode()
    head = (
        f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin1")
    util.write_nonblock(sock, head + body)
    # Closing with the rest of the URL unread would reset the connection, and the client could
    # lose the answer; read a bounded amount of it first, as web servers' lingering close does.
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(LINGER_SECONDS)
    left = LINGER_BYTES
    while left > 0 and (chunk := sock.recv(min(left, 16384))):
        left -= len(chunk)


class ThreadWorker(GunicornThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._busy = 0
        self._busy_lock = threading.Lock()

    def handle(self, conn):
        # Handing a kept-alive connection back costs two thread hand-offs and the poller's
        # registration: about 0.15 ms of CPU of what was a 0.45 ms /health, more in wall time.
        with self._busy_lock:
            self._busy += 1
        try:
            result = super().handle(conn)
            while result is True and self._next_request_ready(conn):
                result = super().handle(conn)
            return result
        finally:
            with self._busy_lock:
                self._busy -= 1

    def _next_request_ready(self, conn) -> bool:
        """Whether this thread should serve the connection's next request now."""
        if not self.alive:
            return False
        # Draining a body Django did not read (a 401, a 503) can read ahead into the client's
        # next request, and bytes in a buffer never make the socket readable: gunicorn 26
        # left that request unanswered until the keep-alive timeout closed the connection
        # (27.0.1 serves it, as here; mlflow 3.17.2, the tests' client, wants gunicorn<27).
        if conn.parser.unreader.buf.getvalue() or _tls_pending(conn.sock):
            return True
        # Waiting holds this thread, so only while another is free for every other client.
        if self._busy >= self.cfg.threads:
            return False
        poller = select.poll()
        poller.register(conn.sock, select.POLLIN)
        return bool(poller.poll(NEXT_REQUEST_WAIT * 1000))

    def handle_error(self, req, client, addr, exc):
        if not isinstance(exc, LimitRequestLine):
            return super().handle_error(req, client, addr, exc)
        self.log.warning("Request line over %d bytes from ip=%s", MAX_REQUEST_LINE, addr[0])
        try:
            _write_json(
                client,
                "414 URI Too Long",
                {
                    "error_code": "INVALID_PARAMETER_VALUE",
                    "message": (
                        f"The request's URL is longer than {MAX_REQUEST_LINE} bytes. Send fewer "
                        "values in one GET (MLflow's clients send at most 100 run ids)."
                    ),
                },
            )
        except Exception:
            self.log.debug("Failed to send the error.")
        return None
