#!/usr/bin/env bash
# Run a command with a local S3 server (moto, one request at a time) on a free loopback port, and
# the environment the S3 tests read:
#   TAGKEEPER_S3_URL=s3://<bucket>   AWS_ENDPOINT, AWS_ALLOW_HTTP, dummy credentials.
# moto lives in its own venv (.venv-moto) so the pypaimon venv keeps its exact pins.
# Usage: bash scripts/with-moto.sh cargo test --test it s3
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-moto"
BUCKET="${S3_TEST_BUCKET:-tagkeeper-it}"
LOGDIR="$REPO/target/moto"
mkdir -p "$LOGDIR"
if ! "$VENV/bin/python" -c 'import moto.moto_server.werkzeug_app' >/dev/null 2>&1; then
  echo "with-moto.sh: creating $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REPO/ci/requirements-moto.txt"
fi
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
"$VENV/bin/python" "$REPO/ci/moto_serial.py" "$PORT" >"$LOGDIR/moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:${PORT}/" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then cat "$LOGDIR/moto.log" >&2; exit 1; fi
  sleep 0.1
done
curl -fsS -X PUT "http://127.0.0.1:${PORT}/${BUCKET}" >/dev/null
export AWS_ENDPOINT="http://127.0.0.1:${PORT}" AWS_ALLOW_HTTP=true \
       AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
       AWS_CONDITIONAL_PUT=etag TAGKEEPER_S3_URL="s3://${BUCKET}"
echo "with-moto.sh: moto (one request at a time) on 127.0.0.1:${PORT}, bucket ${BUCKET}" >&2
"$@"
