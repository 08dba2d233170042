"""moto's S3 on loopback, one request at a time, so If-None-Match/If-Match are atomic.

The stock `moto_server` is threaded, and concurrent conditional creates occasionally let two
writers win (see shared/object-store.md §8). Usage: python ci/moto_serial.py PORT
"""
import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple("127.0.0.1", port, DomainDispatcherApplication(create_backend_app), threaded=False)
