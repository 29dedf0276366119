# The IssueSight application image: the API, the worker and migrations use it alike.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_FORMAT=json \
    AUTH_MODE=keys \
    RETRIEVAL_CACHE_DIR=/home/issuesight/.cache/issuesight/archives

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY issuesight ./issuesight
COPY migrations ./migrations
# Editable: `issuesight migrate` finds migrations/ beside the package.
RUN pip install --no-cache-dir -e . \
    && useradd --create-home --uid 10001 issuesight
USER issuesight

EXPOSE 8000 9000 9001
CMD ["issuesight", "api", "--host", "0.0.0.0", "--port", "8000"]
