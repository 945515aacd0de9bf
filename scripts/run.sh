#!/usr/bin/env bash
# Serve gsctune on 127.0.0.1:8000 with one Celery worker; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
HOST="${GSCTUNE_HOST:-127.0.0.1}"
PORT="${GSCTUNE_PORT:-8000}"

"$PY" -m celery -A gsctune worker --pool threads --concurrency "${WORKER_CONCURRENCY:-4}" \
  -Q "${WORKER_QUEUES:-default,gpu}" -l INFO --without-gossip --without-mingle &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

echo "gsctune: http://$HOST:$PORT/  (worker pid $worker)"
if [ "${GSCTUNE_SERVER:-gunicorn}" = "runserver" ] || ! "$PY" -c "import gunicorn" 2>/dev/null; then
  "$PY" manage.py runserver --noreload "$HOST:$PORT"
else
  "$PY" -m gunicorn gsctune.wsgi --bind "$HOST:$PORT" --workers "${WEB_WORKERS:-2}" --access-logfile -
fi
