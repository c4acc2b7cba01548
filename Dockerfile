# syntax=docker/dockerfile:1
# LeadHub's production image. It runs gunicorn by default; docker-compose.yml runs the
# same image as the Celery worker, Celery beat and the one-shot migration.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Writable state (beat's schedule; SQLite and the filesystem broker if ever unset).
    LEADHUB_VAR_DIR=/var/lib/leadhub \
    # Collected at build time, below; whitenoise serves them from here.
    STATIC_ROOT=/app/staticfiles \
    # gunicorn reads this as its number of worker processes.
    WEB_CONCURRENCY=3

# A fixed uid, so volumes and Kubernetes' runAsUser can name it. Its home is writable
# (gunicorn keeps its control socket there); the code in /app is not.
RUN groupadd --system --gid 10001 leadhub \
 && useradd --system --uid 10001 --gid leadhub --create-home --home-dir /home/leadhub \
      --shell /usr/sbin/nologin leadhub \
 && install -d -o leadhub -g leadhub -m 0750 /var/lib/leadhub /var/lib/leadhub/beat /var/lib/leadhub/media

WORKDIR /app

# Dependencies in their own layer, rebuilt only when pyproject.toml changes. psycopg's
# binary wheel brings its own libpq, so the slim image needs no compiler or -dev packages.
COPY pyproject.toml ./
RUN python -c "import tomllib; \
print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY . .
# Editable, because the settings find templates/ and static/ beside the packages
# (BASE_DIR): the code runs from /app, not from a copy in site-packages. The SECRET_KEY
# here only lets the settings load for collectstatic; it is not in the image's env.
RUN pip install --no-deps -e . \
 && SECRET_KEY=collectstatic-at-build-time-only LEADHUB_VAR_DIR=/tmp/leadhub-build \
      python manage.py collectstatic --noinput --verbosity 0 \
 && rm -rf /tmp/leadhub-build

USER leadhub:leadhub
EXPOSE 8000

# python -m leadhub.health: GET /healthz the way the proxy would (Host from ALLOWED_HOSTS,
# X-Forwarded-Proto: https); fails on anything but 200. Worker and beat containers
# override or disable this in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python", "-m", "leadhub.health"]

# gthread: each of $WEB_CONCURRENCY processes serves 4 requests at once, so a slow
# client or a slow query doesn't hold a whole process. --timeout restarts a worker stuck
# for 30 s; --graceful-timeout lets requests in flight finish on a deploy (compose
# waits 35 s before SIGKILL); --max-requests recycles workers against slow leaks.
CMD ["gunicorn", "leadhub.wsgi:application", \
     "--bind", "0.0.0.0:8000", \
     "--worker-class", "gthread", "--threads", "4", \
     "--timeout", "30", "--graceful-timeout", "30", "--keep-alive", "5", \
     "--max-requests", "2000", "--max-requests-jitter", "200", \
     "--worker-tmp-dir", "/dev/shm", \
     "--access-logfile", "-"]
