"""The web server's worker: gunicorn's threaded worker, answering an over-long URL in JSON and
answering a request that arrived behind a body the application did not read.

Gunicorn reads the request line before Django sees the request, and refuses one over its
8,190-byte ceiling with an HTML page; an MLflow client asking for too many runs in one GET then
gets an error it cannot read. The ceiling stays (unlimited, a client could grow a worker's memory
without bound before authenticating); only the answer changes.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util
from gunicorn.http.errors import LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker

# gunicorn's own ceiling: a larger limit is silently lowered to it.
MAX_REQUEST_LINE = 8190
# What is read and dropped of the rest of a refused request before closing, and for how long.
LINGER_BYTES = 64 * 1024
LINGER_SECONDS = 1.0


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


class JsonErrorThreadWorker(ThreadWorker):
    def finish_request(self, conn, fs):
        # Draining a body Django did not read (a 401, a 503) can read ahead into the client's next
        # request, and bytes in the parser's buffer never make the socket readable: gunicorn 26
        # leaves that request unanswered until the keep-alive timeout closes the connection.
        # gunicorn 27.0.1 serves it at once, as here; mlflow 3.17.2 (the tests' client) wants <27.
        kept_alive = not fs.cancelled() and fs.exception() is None and fs.result() is True
        if kept_alive and self.alive and conn.parser.unreader.buf.getvalue():
            self.enqueue_req(conn)
            return
        super().finish_request(conn, fs)

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
