# emitrun: one image for every role (web, streams, worker, beat, release); the command picks
# the role (docker-compose.yml, Procfile.prod). docs/deploy.md explains the layout.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOG_FORMAT=json \
    EMITRUN_DATA_DIR=/var/lib/emitrun \
    PROMETHEUS_MULTIPROC_DIR=/run/emitrun-metrics

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN python manage.py collectstatic --noinput \
    && useradd --system --home-dir /var/lib/emitrun emitrun \
    && mkdir -p /var/lib/emitrun /run/emitrun-metrics \
    && chown emitrun /var/lib/emitrun /run/emitrun-metrics
USER emitrun

EXPOSE 8000 8001
# The metrics directory must start empty: a container starts with a fresh one.
CMD ["python", "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
