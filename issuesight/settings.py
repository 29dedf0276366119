"""Configuration from the environment (and a `.env` file), per DESIGN.md's contract."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    prompt_budget_chars: int = Field(default=60_000, ge=4_000, le=2_000_000)
    sync_max_in_flight: int = Field(default=4, ge=1, le=100)
    sync_rate_limit_floor: int = Field(default=100, ge=0)
    stale_policy: str = Field(default="regenerate", pattern="^(regenerate|mark)$")
    archive_after_days: int = Field(default=30, ge=1)
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|text)$")

    @field_validator("github_api_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

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
        return [s.get_secret_value() for s in secrets if s is not None]


@lru_cache
def get_settings() -> Settings:
    return Settings()
