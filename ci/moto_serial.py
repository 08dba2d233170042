"""moto's S3 on loopback, one request at a time, so If-None-Match/If-Match are atomic.

The stock `moto_server` handles requests concurrently, and concurrent conditional creates
occasionally let two writers win (see shared/object-store.md §8). A single-threaded server is
not the answer either: it serves one *connection* at a time, and an HTTP client that opened a
connection and then sent its request on another one (hyper's pool does this under load) leaves
the server waiting on a silent socket while every other request queues behind it, until the
client's idle timeout. So connections are served by threads, and requests are processed one at
a time under a lock, each response fully built inside it.

Usage: python ci/moto_serial.py PORT
"""
import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
one_at_a_time = threading.Lock()


def serial(environ, start_response):
    with one_at_a_time:
        result = app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    return [body]


run_simple("127.0.0.1", port, serial, threaded=True)
