"""Configuration from the environment (and a `.env` file), per DESIGN.md's contract."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = Field(default_factory=lambda: f"sqlite:///{Path.cwd() / 'issuesight.db'}")

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "issuesight"
    temporal_api_key: SecretStr | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None

    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = None
    github_webhook_secret: SecretStr | None = None

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"

    # Knobs beyond the contract, with defaults that need no setting.
    llm_timeout_seconds: float = Field(default=120.0, gt=0)
    llm_max_attempts: int = Field(default=5, ge=1, le=20)
    github_timeout_seconds: float = Field(default=30.0, gt=0)
    github_cache_mb: int = Field(default=64, ge=0, le=16_384)
    prompt_budget_chars: int = Field(default=60_000, ge=4_000, le=2_000_000)
    api_threads: int = Field(default=4, ge=1, le=200)
    status_read_connections: int = Field(default=3, ge=1, le=100)
    worker_http_port: int | None = Field(default=None, ge=1, le=65535)
    temporal_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    llm_max_concurrency: int = Field(default=8, ge=1, le=1000)
    sync_max_in_flight: int = Field(default=4, ge=1, le=100)
    sync_rate_limit_floor: int = Field(default=100, ge=0)
    stale_policy: str = Field(default="regenerate", pattern="^(regenerate|mark)$")
    archive_after_days: int = Field(default=30, ge=1)
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|text)$")

    # Bounds on what one caller can make the service hold or spend (issue #15).
    # Request bodies past these are refused with 413 while they are read, never buffered whole.
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    # GitHub's `issues` deliveries are tens of kilobytes; an issue body is at most 65 536
    # characters. Larger events (a big push) are not handled anyway.
    webhook_max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=64 * 1024, le=25 * 1024 * 1024)
    # uvicorn: connections beyond this are answered 503 at once instead of queueing.
    api_limit_concurrency: int = Field(default=1000, ge=1, le=100_000)
    api_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    # When set, /metrics, /docs and /openapi.json leave the public port for this one.
    api_internal_port: int | None = Field(default=None, ge=1, le=65535)
    api_internal_host: str = "127.0.0.1"
    # A complete tutorial of the schema's usual size is 2-3k tokens; an answer cut at this cap
    # is retried once with twice the cap, then failed (LLMOutputTruncated).
    llm_max_output_tokens: int = Field(default=4096, ge=256, le=200_000)
    # OpenAI's current name is max_completion_tokens; some compatible servers know max_tokens.
    llm_output_cap_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"
    regenerate_cooldown_minutes: int = Field(default=10, ge=0, le=7 * 24 * 60)
    regenerate_daily_limit: int = Field(default=5, ge=1, le=1000)
    # A changed issue regenerates its tutorial at most once per this many minutes; changes
    # inside the window mark it stale, and the reconciler regenerates it when the window ends.
    refresh_cooldown_minutes: int = Field(default=360, ge=0, le=30 * 24 * 60)
    max_tracked_repositories: int = Field(default=50, ge=1, le=100_000)
    reconcile_interval_minutes: int = Field(default=5, ge=1, le=24 * 60)

    @field_validator("github_api_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return _https_unless_loopback("GITHUB_API_URL", value.strip().rstrip("/"))

    @field_validator("openai_base_url")
    @classmethod
    def _llm_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # compose passes an unset variable as an empty string
        return _https_unless_loopback("OPENAI_BASE_URL", value.strip())

    @field_validator("github_token", "openai_api_key", "github_webhook_secret", "temporal_api_key")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return value

    def secret_values(self) -> list[str]:
        """Every configured secret, so logs, prompts and answers can be scrubbed of them."""
        secrets = [
            self.github_token,
            self.openai_api_key,
            self.github_webhook_secret,
            self.temporal_api_key,
        ]
        values = [s.get_secret_value() for s in secrets if s is not None]
        return values + database_passwords(self.database_url)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # repr() and str() show the database URL with its password masked, as SecretStr
        # fields are; the attribute itself stays the plain string the contract promises.
        for name, value in super().__repr_args__():
            if name == "database_url" and isinstance(value, str):
                value = masked_database_url(value)
            yield name, value


def _https_unless_loopback(name: str, url: str) -> str:
    """Tokens and prompts travel to these URLs: plain http is only for this machine."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise ValueError(f"{name} is not a URL") from None
    if not host or parts.scheme not in ("https", "http"):
        raise ValueError(f"{name} must be an https:// URL with a host")
    if parts.scheme == "http" and not is_loopback(host):
        raise ValueError(
            f"{name} must use https:// (plain http:// is allowed only for a loopback host such "
            f"as 127.0.0.1, ::1 or localhost, not {host!r})"
        )
    return url


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_database_url(url: str) -> URL | None:
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        return None


def database_passwords(url: str) -> list[str]:
    """The password of a database URL, decoded and, if it differs, as written (percent-encoded).

    Empty for URLs without a password (SQLite files, peer authentication) or that do not parse.
    """
    parsed = _parse_database_url(url)
    if parsed is None or not parsed.password:
        return []
    passwords = [str(parsed.password)]
    try:
        written = urlsplit(url).password
    except ValueError:
        written = None
    if written and written not in passwords:
        passwords.append(written)
    return passwords


def masked_database_url(url: str) -> str:
    """The URL with its password replaced by '***', for display."""
    parsed = _parse_database_url(url)
    if parsed is None or not parsed.password:
        return url
    return parsed.render_as_string(hide_password=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()
