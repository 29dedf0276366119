"""Prometheus metrics of IssueSight itself (the Temporal SDK exports its own on another port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("issuesight_http_requests", "API requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "issuesight_http_request_duration_seconds",
    "API request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TUTORIALS = Counter("issuesight_tutorials", "Tutorial generations finished", ["outcome"])
LLM_CALLS = Counter("issuesight_llm_calls", "LLM calls made", ["outcome"])
LLM_TOKENS = Counter("issuesight_llm_tokens", "LLM tokens used", ["kind"])
GITHUB_REQUESTS = Counter("issuesight_github_requests", "GitHub requests", ["status"])
GITHUB_NOT_MODIFIED = Counter(
    "issuesight_github_not_modified", "GitHub conditional requests answered 304 (free)"
)
GITHUB_SHARED_READS = Counter(
    "issuesight_github_shared_reads",
    "Repository-level GitHub reads by how the worker's cache served them",
    ["outcome"],  # hit, revalidated (a free 304), miss (a counted request), shared (in flight)
)
RETRIEVAL_INDEXES = Counter(
    "issuesight_retrieval_indexes",
    "Repository indexes asked for, by how they were served",
    ["outcome"],  # memory, disk (rebuilt from a kept archive), downloaded, refused
)
STATUS_READ_POOL = Gauge(
    "issuesight_status_read_pool",
    "The status routes' PostgreSQL pool, as psycopg_pool reports it when /metrics is read",
    ["stat"],  # pool_size, pool_available, requests_waiting; counts since start: requests_num, …
)
STATUS_READ_BATCH = Histogram(
    "issuesight_status_read_batch_size",
    "Status reads answered together by one PostgreSQL statement",
    buckets=(1, 2, 5, 10, 20, 50, 100),
)
GITHUB_RATE_REMAINING = Gauge(
    "issuesight_github_rate_limit_remaining", "GitHub rate-limit budget left, as last seen"
)
REFUSALS = Counter(
    "issuesight_refusals",
    "Requests refused before any work was done, by reason",
    # unauthenticated (401), forbidden (403), quota and rate and llm_budget (429),
    # key_in_query (400)
    ["reason"],
)
