"""Configuration from the environment (and a `.env` file), per DESIGN.md's contract."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from issuesight.core.net import LOOPBACK_HOSTS, is_loopback
from issuesight.domain import defaults

DEFAULT_DAILY_GENERATIONS = 10
DEFAULT_WRITES_PER_MINUTE = 60.0


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
    # GitHub's web address, for the links the pages and answers give (issues, commits, a
    # repository). Unset: derived from GITHUB_API_URL (api.github.com: https://github.com;
    # Enterprise's https://HOST/api/v3: https://HOST).
    github_web_url: str = ""
    github_token: SecretStr | None = None
    github_webhook_secret: SecretStr | None = None
    # Owners whose private repositories may be explained (comma-separated); every other private
    # repository is refused exactly as a missing one is.
    allowed_private_owners: Annotated[frozenset[str], NoDecode] = frozenset()

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"

    # Accounts (DESIGN.md "Accounts"). `auth_mode` unset: the command decides (`issuesight
    # dev`: open; `issuesight api`, the image, compose and create_app(): keys).
    auth_mode: Literal["open", "keys"] | None = None
    public_reads: bool = True
    # Unset: 10 in keys mode, unlimited in open mode.
    user_daily_generations: int | None = Field(default=None, ge=0, le=100_000)
    llm_daily_token_budget: int = Field(default=0, ge=0)
    # Unset: 60 a minute (burst 20) per key and per client address in keys mode, off in open
    # mode; 0 turns the limit off.
    write_rate_per_minute: float | None = Field(default=None, ge=0, le=1_000_000)
    write_burst: int = Field(default=20, ge=1, le=100_000)
    # Host headers the API answers (comma-separated; `*.example.com` patterns, any port; `*`:
    # any). Unset: loopback names in open mode, where a page of another site could otherwise
    # rebind a name of its own to 127.0.0.1 and drive the local admin (DNS rebinding); any
    # host in keys mode, where every write needs a key anyway.
    allowed_hosts: Annotated[tuple[str, ...] | None, NoDecode] = None
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs or
    # networks, `*`: any). Unset: none, so a client cannot name its own address to the
    # per-address write limit (uvicorn's own default believes any loopback peer).
    forwarded_allow_ips: str | None = None
    # For the client commands (`issuesight submit`, `sync`, `projects`): the key they send.
    issuesight_api_key: SecretStr | None = None

    # Signing in to the pages (README "Signing in"). GitHub's OAuth web flow is offered when
    # both the client id and secret are set.
    github_oauth_client_id: str | None = Field(default=None, max_length=200)
    github_oauth_client_secret: SecretStr | None = None
    # GitHub's web address for the flow; unset: derived from GITHUB_API_URL.
    github_oauth_url: str | None = None
    # invite: only users an admin made (matched by a verified email) may sign in with GitHub;
    # open: a GitHub account nobody invited becomes a new member.
    github_signup: Literal["invite", "open"] = "invite"
    session_lifetime_hours: float = Field(default=168.0, gt=0, le=8760)
    session_idle_hours: float = Field(default=24.0, gt=0, le=8760)

    # Knobs beyond the contract, with defaults that need no setting.
    # Cost knobs: each LLM attempt is paid for, and a call is paid for as long as it runs.
    llm_timeout_seconds: float = Field(default=defaults.LLM_TIMEOUT_SECONDS, gt=0, le=900)
    llm_max_attempts: int = Field(default=defaults.LLM_MAX_ATTEMPTS, ge=1, le=10)
    github_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    database_connect_timeout_seconds: float = Field(
        default=defaults.DATABASE_CONNECT_TIMEOUT_SECONDS, gt=0, le=600
    )
    database_statement_timeout_seconds: float = Field(
        default=defaults.DATABASE_STATEMENT_TIMEOUT_SECONDS, ge=0, le=86_400
    )
    # Connecting to Temporal and each call the API and the starters make (start, describe,
    # query, schedules): a Temporal that accepts connections and never answers gives a 503 in
    # this bound instead of a request that hangs. Long polls (a workflow's result) are exempt.
    temporal_rpc_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
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
    # Retrieval: each repository-commit's archive is read once, kept on disk (a restarted
    # worker does not download it again) and indexed in memory, both bounded.
    retrieval_cache_dir: Path | None = Path(".issuesight/retrieval-cache")
    retrieval_cache_mb: int = Field(default=2048, ge=0, le=1_048_576)
    retrieval_memory_mb: int = Field(default=512, ge=16, le=65_536)
    retrieval_archive_mb: int = Field(default=200, ge=0, le=4096)
    retrieval_llm: str = Field(default="off", pattern="^(on|off)$")
    retrieval_llm_max_tokens: int = Field(default=400, ge=50, le=4000)
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
    # A generous tutorial (every list half full) is about 4 800 tokens, so only a runaway answer
    # reaches this (tests/unit/test_schema.py sizes it); an answer cut here is retried once with
    # twice the cap, within gpt-4o-mini's 16 384, then failed (LLMOutputTruncated).
    llm_max_output_tokens: int = Field(default=6144, ge=256, le=200_000)
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

    @field_validator("allowed_private_owners", mode="before")
    @classmethod
    def _owner_list(cls, value: Any) -> Any:
        """`Octo-Org, someone` -> {"octo-org", "someone"}: GitHub logins ignore case."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(str(v).strip().lower() for v in value if str(v).strip())
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: Any) -> Any:
        """`localhost, ::1` -> ("localhost", "[::1]"): Starlette compares IPv6 hosts in their
        brackets, as the Host header carries them. Blank: unset."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple | set | frozenset):
            hosts = [str(v).strip().lower() for v in value if str(v).strip()]
            bracketed = (f"[{h}]" if ":" in h and not h.startswith("[") else h for h in hosts)
            return tuple(bracketed) or None
        return value

    @field_validator("retrieval_cache_dir", mode="before")
    @classmethod
    def _blank_dir_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("github_oauth_url", "github_oauth_client_id", "forwarded_allow_ips")
    @classmethod
    def _blank_text_is_unset(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip().rstrip("/")

    @field_validator("github_oauth_url")
    @classmethod
    def _oauth_url(cls, value: str | None) -> str | None:
        # The OAuth app's secret and users' codes travel there.
        return None if value is None else _https_unless_loopback("GITHUB_OAUTH_URL", value)

    @field_validator("github_web_url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value:
            return ""  # derived from GITHUB_API_URL once that is validated
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("GITHUB_WEB_URL must be an http(s):// URL with a host")
        return value

    @model_validator(mode="after")
    def _derive_web_url(self) -> Settings:
        if not self.github_web_url:
            self.github_web_url = web_url_of(self.github_api_url)
        return self

    @model_validator(mode="after")
    def _oauth_pair(self) -> Settings:
        if (self.github_oauth_client_id is None) != (self.github_oauth_client_secret is None):
            raise ValueError(
                "GITHUB_OAUTH_CLIENT_ID and GITHUB_OAUTH_CLIENT_SECRET must be set together"
            )
        return self

    @field_validator(
        "github_token",
        "openai_api_key",
        "github_webhook_secret",
        "temporal_api_key",
        "issuesight_api_key",
        "github_oauth_client_secret",
    )
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
            self.issuesight_api_key,
            self.github_oauth_client_secret,
        ]
        values = [s.get_secret_value() for s in secrets if s is not None]
        return values + database_passwords(self.database_url)

    @property
    def effective_auth_mode(self) -> Literal["open", "keys"]:
        """Keys unless open was chosen: an API nobody configured is not left open."""
        return self.auth_mode or "keys"

    @property
    def daily_generation_limit(self) -> int | None:
        """New generations a user may start per rolling 24 hours; None: unlimited."""
        if self.user_daily_generations is not None:
            return self.user_daily_generations
        return DEFAULT_DAILY_GENERATIONS if self.effective_auth_mode == "keys" else None

    @property
    def write_rate_limit(self) -> float:
        """Write requests per minute per key and per client address; 0: no limit."""
        if self.write_rate_per_minute is not None:
            return self.write_rate_per_minute
        return DEFAULT_WRITES_PER_MINUTE if self.effective_auth_mode == "keys" else 0.0

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        """The Host headers the API answers: ALLOWED_HOSTS, else loopback's names in open
        mode and any host in keys mode."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        return LOOPBACK_HOSTS if self.effective_auth_mode == "open" else ("*",)

    @property
    def github_sign_in(self) -> bool:
        """Whether the pages offer GitHub's OAuth web flow."""
        return self.github_oauth_client_id is not None

    @property
    def github_oauth_base_url(self) -> str:
        """Where GitHub's OAuth pages live: GITHUB_OAUTH_URL, else GitHub's web address."""
        return self.github_oauth_url or self.github_web_url

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # repr() and str() show the database URL with its password masked, as SecretStr
        # fields are; the attribute itself stays the plain string the contract promises.
        for name, value in super().__repr_args__():
            if name == "database_url" and isinstance(value, str):
                value = masked_database_url(value)
            yield name, value


def web_url_of(api_url: str) -> str:
    """GitHub's web address that a REST base URL belongs to: api.github.com's is
    https://github.com, Enterprise's https://HOST/api/v3 is https://HOST; any other address
    (a local fake) is taken as it is."""
    parts = urlsplit(api_url)
    if parts.hostname == "api.github.com":
        return "https://github.com"
    path = parts.path.rstrip("/")
    if path.endswith("/api/v3"):
        path = path[: -len("/api/v3")]
    return f"{parts.scheme}://{parts.netloc}{path}"


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


class ConfigurationError(ValueError):
    """Settings out of their bounds, in words that name the environment variables."""


def explain(error: ValidationError) -> ConfigurationError:
    # The values are left out: one may be a secret (a URL with credentials in it, say).
    lines = []
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"]).upper() or "settings"
        lines.append(f"{name}: {problem['msg']}")
    return ConfigurationError("invalid configuration: " + "; ".join(lines))


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment; out-of-bounds values stop the process at start
    (ConfigurationError) with one line per variable, not a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        raise explain(exc) from None
