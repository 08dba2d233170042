"""Long calls: progress reaches a Python callback (on the calling thread, from the library's
`tagkeeper::progress` events), a cancelled token stops a call, an exception in the callback
stops the call and propagates, and a destructive run stopped half-way leaves a table that is
whole and that the next run finishes (the library's journal, as after --timeout)."""

import threading

import pytest

import tagkeeper as tk
from conftest import PYPAIMON_DB, all_files, checksum

FAR_FUTURE = 2**62


def test_progress_events_reach_the_callback_on_the_calling_thread():
    t = tk.Table.open(str(PYPAIMON_DB / "partitioned_overwrite"))
    events, threads = [], set()

    def progress(phase, done, total, finished):
        events.append((phase, done, total, finished))
        threads.add(threading.get_ident())

    t.plan_remove_orphan_files(progress=progress)
    phases = {e[0] for e in events}
    assert {"listing directories", "reading manifests"} <= phases
    assert threads == {threading.get_ident()}
    for phase in phases:
        last = [e for e in events if e[0] == phase][-1]
        assert last[3] is True, phase
        assert last[2] == 0 or last[1] == last[2], last


def test_a_cancelled_token_stops_the_call_before_it_starts(copy_table):
    path = copy_table("append_many")
    t = tk.Table.open(str(path))
    token = tk.CancelToken()
    token.cancel()
    assert token.cancelled
    plan = t.plan_expire_snapshots(retain_min=1, older_than=FAR_FUTURE)
    before = all_files(path)
    with pytest.raises(tk.CancelledError) as e:
        plan.execute(cancel=token)
    assert e.value.kind == "cancelled"
    assert all_files(path) == before


def test_an_exception_in_the_callback_stops_the_call():
    t = tk.Table.open(str(PYPAIMON_DB / "partitioned_overwrite"))

    class Stop(Exception):
        pass

    def progress(*_):
        raise Stop()

    with pytest.raises(Stop):
        t.plan_remove_orphan_files(progress=progress)


def test_cancelling_during_deletion_is_finished_by_the_next_run(copy_table):
    path = copy_table("append_many")
    t = tk.Table.open(str(path))
    keep = [s["id"] for s in t.snapshots()["snapshots"]][-1:]
    want = checksum(t.read())
    token = tk.CancelToken()

    def progress(phase, done, total, finished):
        if phase.startswith("deleting"):
            token.cancel()

    plan = t.plan_expire_snapshots(retain_min=1, older_than=FAR_FUTURE)
    try:
        plan.execute(cancel=token, progress=progress)
    except tk.CancelledError:
        pass  # stopped between the library's batches; else it had finished already
    # Whatever was deleted, the next run finishes the journaled plan.
    t.expire_snapshots(retain_min=1, older_than=FAR_FUTURE)
    assert [s["id"] for s in t.snapshots()["snapshots"]] == keep
    assert checksum(t.read()) == want
    assert t.check()["whole"]


# Run in a child process: if a call held the GIL while it waits, the child's main thread could
# never run again, and the child is killed by the timeout instead of the test hanging.
_GIL_SCRIPT = r"""
import socket, sys, threading, time
import tagkeeper as tk

server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(8)
accepted = threading.Event()
held = []

def serve():
    # Accept and never answer: the library's request waits inside native code.
    while True:
        conn, _ = server.accept()
        held.append(conn)
        accepted.set()

threading.Thread(target=serve, daemon=True).start()
opts = {
    "aws_endpoint": "http://127.0.0.1:%d" % server.getsockname()[1],
    "aws_allow_http": "true",
    "aws_access_key_id": "k",
    "aws_secret_access_key": "s",
    "aws_region": "us-east-1",
}
token = tk.CancelToken()
outcome = []

def call():
    try:
        tk.Table.open("s3://bucket/db.db/t", opts, cancel=token)
        outcome.append("returned")
    except tk.CancelledError:
        outcome.append("cancelled")
    except BaseException as e:
        outcome.append(repr(e))

worker = threading.Thread(target=call)
worker.start()
if not accepted.wait(30):
    sys.exit("the request never reached the server")
# The call is now blocked on the unanswered request. Python code runs on this thread
# meanwhile (a held GIL would stop it here)...
spins, until = 0, time.monotonic() + 0.3
while time.monotonic() < until:
    spins += 1
assert worker.is_alive() and spins > 1000, (worker.is_alive(), spins)
# ...and cancelling from here stops the call.
token.cancel()
worker.join(30)
assert not worker.is_alive(), "the call did not stop when cancelled"
assert outcome == ["cancelled"], outcome
print("ok")
"""


def test_a_waiting_call_releases_the_gil_and_is_cancelled_from_another_thread():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _GIL_SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", (out.stdout, out.stderr)
