"""Settings read DESIGN.md's variables from the environment and never show the secrets; the
JSON log formatter writes one object a line with the secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from issuesight.core.logs import JsonFormatter, ScrubbingTextFormatter, configure_logging
from issuesight.core.settings import Settings, get_settings

CONTRACT = [
    "DATABASE_URL",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_TASK_QUEUE",
    "GITHUB_API_URL",
    "GITHUB_TOKEN",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "LLM_MODEL",
    "GITHUB_WEBHOOK_SECRET",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS_CERT",
    "TEMPORAL_TLS_KEY",
]
KNOBS = [
    "LLM_TIMEOUT_SECONDS",
    "LLM_MAX_ATTEMPTS",
    "GITHUB_TIMEOUT_SECONDS",
    "PROMPT_BUDGET_CHARS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "SYNC_MAX_IN_FLIGHT",
    "SYNC_RATE_LIMIT_FLOOR",
    "STALE_POLICY",
    "ARCHIVE_AFTER_DAYS",
    "GITHUB_OAUTH_CLIENT_ID",
    "GITHUB_OAUTH_CLIENT_SECRET",
    "GITHUB_OAUTH_URL",
    "GITHUB_SIGNUP",
    "SESSION_LIFETIME_HOURS",
    "SESSION_IDLE_HOURS",
    "ALLOWED_HOSTS",
    "GITHUB_WEB_URL",
    "FORWARDED_ALLOW_IPS",
]
SECRETS = {
    "GITHUB_TOKEN": "ghp_" + "SettingsToken1" * 3,
    "OPENAI_API_KEY": "sk-settings-openai-key-000000000001",
    "GITHUB_WEBHOOK_SECRET": "settings-webhook-secret-0001",
    "TEMPORAL_API_KEY": "settings-temporal-api-key-0001",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in CONTRACT + KNOBS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _settings() -> Settings:
    return Settings(_env_file=None)


def test_defaults_follow_design_md(clean_env: Path) -> None:
    settings = _settings()
    assert settings.database_url == f"sqlite:///{clean_env / 'issuesight.db'}"
    assert settings.temporal_address == "localhost:7233"
    assert settings.temporal_namespace == "default"
    assert settings.temporal_task_queue == "issuesight"
    assert settings.github_api_url == "https://api.github.com"
    assert settings.llm_model == "gpt-4o-mini"
    assert settings.github_token is None
    assert settings.openai_api_key is None
    assert settings.openai_base_url is None
    assert settings.github_webhook_secret is None
    assert settings.temporal_api_key is None
    assert settings.temporal_tls_cert is None
    assert settings.temporal_tls_key is None
    assert settings.secret_values() == []


def test_every_contract_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "DATABASE_URL": "postgresql+psycopg://db.internal/issuesight",
        "TEMPORAL_ADDRESS": "temporal.internal:7233",
        "TEMPORAL_NAMESPACE": "prod.abc12",
        "TEMPORAL_TASK_QUEUE": "issuesight-prod",
        "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
        "OPENAI_BASE_URL": "http://localhost:11434/v1",
        "LLM_MODEL": "llama3.1:8b",
        "TEMPORAL_TLS_CERT": "/etc/issuesight/client.pem",
        "TEMPORAL_TLS_KEY": "/etc/issuesight/client.key",
        **SECRETS,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = _settings()
    assert settings.database_url == "postgresql+psycopg://db.internal/issuesight"
    assert settings.temporal_address == "temporal.internal:7233"
    assert settings.temporal_namespace == "prod.abc12"
    assert settings.temporal_task_queue == "issuesight-prod"
    assert settings.github_api_url == "https://ghe.example.com/api/v3"
    assert settings.openai_base_url == "http://localhost:11434/v1"
    assert settings.llm_model == "llama3.1:8b"
    assert settings.temporal_tls_cert == Path("/etc/issuesight/client.pem")
    assert settings.temporal_tls_key == Path("/etc/issuesight/client.key")
    assert settings.github_token is not None
    assert settings.github_token.get_secret_value() == SECRETS["GITHUB_TOKEN"]
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == SECRETS["OPENAI_API_KEY"]
    assert settings.github_webhook_secret is not None
    assert settings.github_webhook_secret.get_secret_value() == SECRETS["GITHUB_WEBHOOK_SECRET"]
    assert settings.temporal_api_key is not None
    assert settings.temporal_api_key.get_secret_value() == SECRETS["TEMPORAL_API_KEY"]
    assert sorted(settings.secret_values()) == sorted(SECRETS.values())


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://api.github.com/", "https://api.github.com"),
        ("https://ghe.example.com/api/v3///", "https://ghe.example.com/api/v3"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_github_api_url_trailing_slash(
    monkeypatch: pytest.MonkeyPatch, given: str, stored: str
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", given)
    assert _settings().github_api_url == stored


def test_lower_case_names_work_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("llm_model", "lower-case-model")
    assert _settings().llm_model == "lower-case-model"


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_secrets_are_unset(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    for name in SECRETS:
        monkeypatch.setenv(name, blank)
    settings = _settings()
    assert settings.github_token is None
    assert settings.openai_api_key is None
    assert settings.github_webhook_secret is None
    assert settings.temporal_api_key is None
    assert settings.secret_values() == []


def test_secret_values_lists_only_the_configured_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRETS["OPENAI_API_KEY"])
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", " ")
    assert _settings().secret_values() == [SECRETS["OPENAI_API_KEY"]]


def test_repr_and_str_hide_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = _settings()
    shown = [repr(settings), str(settings), settings.model_dump_json(), repr(settings.github_token)]
    for text in shown:
        for value in SECRETS.values():
            assert value not in text
    assert "**********" in repr(settings)


def test_database_password_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "db-pass-0123456789"
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://issuesight:{password}@db/issuesight")
    settings = _settings()
    assert password not in repr(settings)
    assert password not in str(settings)
    assert "postgresql+psycopg://issuesight:***@db/issuesight" in repr(settings)
    assert password in settings.secret_values()
    # The attribute itself stays the usable URL.
    assert settings.database_url.endswith(f":{password}@db/issuesight")


def test_database_password_percent_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p%40ss-word-01@db:5432/x")
    settings = _settings()
    assert "p%40ss-word-01" not in repr(settings)
    assert "p@ss-word-01" not in repr(settings)
    assert set(settings.secret_values()) == {"p@ss-word-01", "p%40ss-word-01"}


@pytest.mark.parametrize(
    "url", ["sqlite:///tmp/x.db", "postgresql://u@db/x", "postgresql:///x", "not a url"]
)
def test_database_url_without_password(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    settings = _settings()
    assert settings.secret_values() == []
    assert f"database_url='{url}'" in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROMPT_BUDGET_CHARS", "3999"),
        ("LLM_MAX_ATTEMPTS", "0"),
        # Each attempt is a paid call: 11 would be eleven per issue (and 1000, a thousand).
        ("LLM_MAX_ATTEMPTS", "11"),
        ("LLM_MAX_ATTEMPTS", "1000"),
        ("LLM_TIMEOUT_SECONDS", "0"),
        ("LLM_TIMEOUT_SECONDS", "901"),
        ("GITHUB_TIMEOUT_SECONDS", "301"),
        ("LLM_DAILY_TOKEN_BUDGET", "-1"),
        ("RETRIEVAL_LLM_MAX_TOKENS", "4001"),
        ("LLM_MAX_OUTPUT_TOKENS", "200001"),
        ("REGENERATE_DAILY_LIMIT", "0"),
        ("REFRESH_COOLDOWN_MINUTES", "-1"),
        ("LOG_FORMAT", "xml"),
        ("API_THREADS", "0"),
        ("STATUS_READ_CONNECTIONS", "0"),
        ("GITHUB_CACHE_MB", "-1"),
        ("LLM_MAX_CONCURRENCY", "0"),
    ],
)
def test_knobs_are_validated(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        _settings()


def test_an_out_of_bounds_knob_stops_the_command_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from issuesight.cli.main import main

    monkeypatch.setenv("LLM_MAX_ATTEMPTS", "1000")
    get_settings.cache_clear()
    try:
        assert main(["migrate"]) == 2
    finally:
        get_settings.cache_clear()
    error = capsys.readouterr().err
    assert error.startswith("issuesight: invalid configuration: LLM_MAX_ATTEMPTS: ")
    assert "less than or equal to 10" in error
    assert "Traceback" not in error
    assert len(error.strip().splitlines()) == 1


def test_dot_env_file_is_read_unless_disabled(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    (clean_env / ".env").write_text("LLM_MODEL=from-dot-env\nTEMPORAL_NAMESPACE=dotenv-ns\n")
    assert Settings().llm_model == "from-dot-env"
    assert _settings().llm_model == "gpt-4o-mini"
    monkeypatch.setenv("LLM_MODEL", "from-environment")
    assert Settings().llm_model == "from-environment"
    assert Settings().temporal_namespace == "dotenv-ns"


# -- logs --------------------------------------------------------------------------------------

LOG_SECRET = "log-secret-value-0001"
GHP = "ghp_" + "LogToken1234" * 3


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("issuesight.unit")
    record = logger.makeRecord(
        "issuesight.unit", logging.WARNING, __file__, 10, msg, args, None, extra=extra
    )
    return record


def test_json_formatter_one_object_a_line_with_context() -> None:
    record = _record(
        "fetched %s in %d ms",
        "issue o/r#1",
        42,
        issue="o/r#1",
        attempt=3,
        temporal_workflow={"workflow_id": "tutorial:o/r#1", "run_id": "r1", "namespace": "x"},
    )
    line = JsonFormatter([]).format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "issuesight.unit"
    assert entry["message"] == "fetched issue o/r#1 in 42 ms"
    assert entry["ts"].endswith("+00:00")
    assert entry["issue"] == "o/r#1"
    assert entry["attempt"] == 3
    assert entry["temporal_workflow"] == {"workflow_id": "tutorial:o/r#1", "run_id": "r1"}
    assert set(entry) == {
        "ts",
        "level",
        "logger",
        "message",
        "issue",
        "attempt",
        "temporal_workflow",
    }


def test_json_formatter_redacts_secrets_in_message_and_extras() -> None:
    record = _record(
        "token %s and %s",
        LOG_SECRET,
        GHP,
        header=f"Bearer {LOG_SECRET}",
        nested={"key": LOG_SECRET, "list": [GHP]},
    )
    line = JsonFormatter([LOG_SECRET]).format(record)
    assert LOG_SECRET not in line
    assert GHP not in line
    entry = json.loads(line)
    assert entry["message"] == "token [redacted] and [redacted]"
    assert entry["header"] == "Bearer [redacted]"
    assert entry["nested"] == {"key": "[redacted]", "list": ["[redacted]"]}


def test_json_formatter_multiline_message_and_exception_stay_on_one_line() -> None:
    try:
        raise RuntimeError(f"boom with {LOG_SECRET}")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.getLogger("x").makeRecord(
        "x", logging.ERROR, __file__, 1, "line one\nline two", (), exc_info
    )
    line = JsonFormatter([LOG_SECRET]).format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "line one\nline two"
    assert "RuntimeError: boom with [redacted]" in entry["exception"]
    assert LOG_SECRET not in line


def test_json_formatter_serializes_odd_values() -> None:
    record = _record("x", path=Path("/tmp/a"), when=object())
    entry = json.loads(JsonFormatter([]).format(record))
    assert entry["path"] == "/tmp/a"
    assert entry["when"].startswith("<object object")


@pytest.mark.parametrize("secret", ['webhook"secret-0001', "webhook\\secret-0001"])
def test_json_formatter_redacts_secrets_with_json_special_characters(secret: str) -> None:
    line = JsonFormatter([secret]).format(_record("secret is %s", secret))
    assert json.loads(line)["message"] == "secret is [redacted]"


ODD_SECRETS = ['webhook"secret-0001', "webhook\\secret-0001", "webhook'sec\tret-0001", "ключ-0001"]


def _escaped(secret: str) -> list[str]:
    json_forms = [json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]]
    return [secret, *json_forms, repr(secret)[1:-1]]


@pytest.mark.parametrize("secret", ODD_SECRETS)
def test_json_formatter_redacts_odd_secrets_everywhere(secret: str) -> None:
    try:
        raise KeyError(secret)  # a KeyError prints the repr() of its key
    except KeyError:
        exc_info = sys.exc_info()
    record = _record(
        "repr %r, str %s", secret, [secret], extra_value=f"x {secret}", nested={secret: [secret]}
    )
    record.exc_info = exc_info
    line = JsonFormatter([secret]).format(record)
    for form in _escaped(secret):
        assert form not in line
    entry = json.loads(line)
    assert entry["message"] == "repr '[redacted]', str ['[redacted]']"
    assert entry["extra_value"] == "x [redacted]"
    assert entry["nested"] == {"[redacted]": ["[redacted]"]}
    assert "KeyError" in entry["exception"]


@pytest.mark.parametrize("secret", ODD_SECRETS)
def test_text_formatter_redacts_odd_secrets(secret: str) -> None:
    try:
        raise KeyError(secret)
    except KeyError:
        exc_info = sys.exc_info()
    record = _record("value %(k)s, repr %(k)r", {"k": secret})
    record.exc_info = exc_info
    text = ScrubbingTextFormatter([secret]).format(record)
    for form in _escaped(secret):
        assert form not in text
    assert "value [redacted], repr '[redacted]'" in text
    assert "KeyError" in text
    # The record itself is left as it was for other handlers.
    assert record.args == {"k": secret}


def test_text_formatter_redacts() -> None:
    text = ScrubbingTextFormatter([LOG_SECRET]).format(_record("key=%s", LOG_SECRET))
    assert LOG_SECRET not in text
    assert text.endswith("WARNING issuesight.unit: key=[redacted]")


def test_configure_logging_installs_one_scrubbing_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    noisy = ["httpx", "httpcore", "httpx2", "httpcore2", "openai"]
    saved_noisy = {name: logging.getLogger(name).level for name in noisy}
    try:
        configure_logging("info", "json", [LOG_SECRET])
        assert len(root.handlers) == 1
        assert root.level == logging.INFO
        assert logging.getLogger("httpx").level == logging.WARNING
        logging.getLogger("issuesight.unit").info("using %s", LOG_SECRET, extra={"k": "v"})
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_noisy.items():
            logging.getLogger(name).setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "using [redacted]"
    assert entry["k"] == "v"


# -- signing in to the pages ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_url", "web_url"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com"),
        ("https://ghe.example.com:8443/api/v3", "https://ghe.example.com:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_github_sign_in_follows_the_api_url(
    monkeypatch: pytest.MonkeyPatch, api_url: str, web_url: str
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", api_url)
    assert _settings().github_web_url == web_url  # the pages' links
    assert _settings().github_oauth_base_url == web_url
    monkeypatch.setenv("GITHUB_OAUTH_URL", "https://login.example.com/")
    assert _settings().github_oauth_base_url == "https://login.example.com"
    assert _settings().github_web_url == web_url
    monkeypatch.setenv("GITHUB_WEB_URL", "https://code.example.com/")
    assert _settings().github_web_url == "https://code.example.com"


def test_github_web_url_must_be_a_web_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_WEB_URL", "javascript:alert(1)")
    with pytest.raises(ValidationError, match="GITHUB_WEB_URL"):
        _settings()


def test_github_sign_in_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings()
    assert not settings.github_sign_in
    assert settings.github_signup == "invite"  # the safe default: admins invite
    assert (settings.session_lifetime_hours, settings.session_idle_hours) == (168.0, 24.0)
    monkeypatch.setenv("GITHUB_OAUTH_CLIENT_ID", "Ov23liAbc")
    with pytest.raises(ValidationError, match="set together"):
        _settings()
    secret = "settings-oauth-client-secret-0001"
    monkeypatch.setenv("GITHUB_OAUTH_CLIENT_SECRET", secret)
    settings = _settings()
    assert settings.github_sign_in
    assert secret in settings.secret_values()  # scrubbed from every log line
    assert secret not in repr(settings)
    assert secret not in str(settings)
    monkeypatch.setenv("GITHUB_OAUTH_CLIENT_ID", " ")
    monkeypatch.setenv("GITHUB_OAUTH_CLIENT_SECRET", "")
    assert not _settings().github_sign_in  # blank is unset


@pytest.mark.parametrize("name", ["GITHUB_API_URL", "OPENAI_BASE_URL", "GITHUB_OAUTH_URL"])
@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1",
        "http://127.0.0.1:8080",
        "http://127.5.6.7/v1",
        "http://localhost:11434/v1",
        "http://[::1]:9000",
    ],
)
def test_upstream_urls_are_https_or_loopback(
    monkeypatch: pytest.MonkeyPatch, name: str, url: str
) -> None:
    monkeypatch.setenv(name, url)
    settings = _settings()
    assert getattr(settings, name.lower()) == url


@pytest.mark.parametrize("name", ["GITHUB_API_URL", "OPENAI_BASE_URL", "GITHUB_OAUTH_URL"])
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://api.example.com/v1", "'api.example.com'"),
        ("http://10.0.0.5:11434/v1", "'10.0.0.5'"),
        ("http://localhost.example.com/", "'localhost.example.com'"),
        ("ftp://api.example.com", "https:// URL with a host"),
        ("https:///v1", "https:// URL with a host"),
        ("api.example.com", "https:// URL with a host"),
    ],
)
def test_plain_http_to_another_host_is_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str, url: str, says: str
) -> None:
    monkeypatch.setenv(name, url)
    with pytest.raises(ValidationError) as refused:
        _settings()
    message = str(refused.value)
    assert name in message
    assert says in message


def test_an_empty_openai_base_url_means_the_sdk_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    assert _settings().openai_base_url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GITHUB_SIGNUP", "anyone"),
        ("SESSION_LIFETIME_HOURS", "0"),
        ("SESSION_IDLE_HOURS", "-1"),
        ("SESSION_LIFETIME_HOURS", "9000"),
    ],
)
def test_sign_in_knobs_are_validated(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        _settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_REQUEST_BODY_BYTES", "10"),
        ("WEBHOOK_MAX_BODY_BYTES", str(26 * 1024 * 1024)),
        ("LLM_MAX_OUTPUT_TOKENS", "10"),
        ("LLM_OUTPUT_CAP_FIELD", "max_length"),
        ("REGENERATE_DAILY_LIMIT", "0"),
        ("MAX_TRACKED_REPOSITORIES", "0"),
        ("RECONCILE_INTERVAL_MINUTES", "0"),
        ("API_LIMIT_CONCURRENCY", "0"),
    ],
)
def test_hardening_knobs_are_validated(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        _settings()


def test_allowed_hosts_default_by_mode_and_parse_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _settings().trusted_hosts == ("*",)  # keys mode, the default of a bare API
    open_mode = Settings(_env_file=None, auth_mode="open")
    assert open_mode.trusted_hosts == ("localhost", "127.0.0.1", "[::1]")
    monkeypatch.setenv("ALLOWED_HOSTS", " Issuesight.Example, *.corp.example ,::1, ")
    configured = Settings(_env_file=None, auth_mode="open")
    assert configured.trusted_hosts == ("issuesight.example", "*.corp.example", "[::1]")
    monkeypatch.setenv("ALLOWED_HOSTS", " ")
    assert Settings(_env_file=None, auth_mode="open").trusted_hosts == open_mode.trusted_hosts


def test_no_proxy_is_trusted_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _settings().forwarded_allow_ips is None
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "  ")  # compose passes unset as blank
    assert _settings().forwarded_allow_ips is None
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8, 192.0.2.7")
    assert _settings().forwarded_allow_ips == "10.0.0.0/8, 192.0.2.7"
