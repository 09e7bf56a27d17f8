"""emitrun's benchmark suite: `make bench` (not part of `make test`).

It starts the production layout (gunicorn gthread for the REST API and dashboard,
uvicorn for the streams, a Celery worker and beat) against its own PostgreSQL database
and Redis database, runs each scenario for a bounded time and writes
bench/results/<stamp>.json and bench/results/latest.md. docs/performance.md reads it.
"""
