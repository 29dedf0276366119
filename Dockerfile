# The IssueSight application image: the API, the worker and migrations use it alike.
# Pinned by version (pin the digest where you build: see docker-compose.yml).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_FORMAT=json \
    AUTH_MODE=keys \
    RETRIEVAL_CACHE_DIR=/home/issuesight/.cache/issuesight/archives

WORKDIR /app
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY issuesight ./issuesight
COPY migrations ./migrations
# Editable: `issuesight migrate` finds migrations/ beside the package.
# Every transitive dependency at the version tested (constraints.txt).
RUN pip install --no-cache-dir -c constraints.txt -e . \
    && useradd --create-home --uid 10001 issuesight
USER issuesight

EXPOSE 8000 9000 9001
CMD ["issuesight", "api", "--host", "0.0.0.0", "--port", "8000"]
