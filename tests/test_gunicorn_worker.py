"""The web server's worker decides when a thread serves its connection's next request itself
(mlplatform/gunicorn_worker.py); the end-to-end tests in tests/e2e/test_server_command.py serve
requests through it."""

from __future__ import annotations

import os
import socket

import pytest
from gunicorn.config import Config
from gunicorn.workers.gthread import TConn

from mlplatform.gunicorn_worker import ThreadWorker

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
def worker():
    cfg = Config()
    cfg.set("threads", 2)
    worker = ThreadWorker(0, os.getppid(), [], None, 30, cfg, None)
    yield worker
    worker.tmp.close()


@pytest.fixture
def connection():
    """A kept-alive connection as the worker holds it after an answer, and its client's end."""
    server_end, client_end = socket.socketpair()
    conn = TConn(Config(), server_end, ("127.0.0.1", 50000), ("127.0.0.1", 8080))
    conn.init()
    yield conn, client_end
    server_end.close()
    client_end.close()


def test_the_next_request_is_served_on_the_thread_while_another_thread_is_free(worker, connection):
    conn, client = connection
    worker._busy = 1  # this thread; the other is free
    client.sendall(REQUEST)
    assert worker._next_request_ready(conn) is True


def test_no_next_request_within_the_wait_hands_the_connection_back(worker, connection):
    conn, _ = connection
    worker._busy = 1
    assert worker._next_request_ready(conn) is False


def test_the_last_free_thread_does_not_wait_for_one_client(worker, connection):
    conn, client = connection
    worker._busy = 2  # every thread: the poller must get the connection back
    client.sendall(REQUEST)
    assert worker._next_request_ready(conn) is False


def test_a_request_read_ahead_into_the_buffer_is_served_even_with_every_thread_busy(
    worker, connection
):
    # Nothing is left on the socket to make it readable: only this thread knows of the request.
    conn, _ = connection
    worker._busy = 2
    conn.parser.unreader.unread(REQUEST)
    assert worker._next_request_ready(conn) is True


def test_a_stopping_worker_serves_no_further_request_on_the_connection(worker, connection):
    conn, client = connection
    worker._busy = 1
    worker.alive = False
    client.sendall(REQUEST)
    conn.parser.unreader.unread(REQUEST)
    assert worker._next_request_ready(conn) is False
