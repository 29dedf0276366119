"""docker-compose.yml: the production-like deployment is well formed and wired as documented."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from typing import Any

import pytest
import yaml

from issuesight.runtime.worker import GRACEFUL_SHUTDOWN
from tests.paths import ROOT

COMPOSE = ROOT / "docker-compose.yml"
REQUIRED = (
    "POSTGRES_PASSWORD",
    "ISSUESIGHT_OWNER_DB_PASSWORD",
    "ISSUESIGHT_APP_DB_PASSWORD",
    "OPENAI_API_KEY",
    "GITHUB_WEBHOOK_SECRET",
)


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_services_are_ordered_by_health() -> None:
    services = _compose()["services"]
    assert {"postgres", "temporal", "temporal-ui", "migrate", "api", "worker"} <= set(services)
    for name in ("postgres", "temporal", "api", "worker"):
        assert "healthcheck" in services[name], name
    assert services["temporal"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["temporal"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["issuesight", "migrate"]


def test_workers_scale_and_shut_down_gracefully() -> None:
    worker = _compose()["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker  # published ports would collide under --scale
    grace = int(str(worker["stop_grace_period"]).rstrip("s"))
    assert grace > GRACEFUL_SHUTDOWN.total_seconds()


def test_required_secrets_must_be_set() -> None:
    text = COMPOSE.read_text()
    for name in REQUIRED:
        assert f"${{{name}:?" in text, name


def test_the_temporal_web_ui_is_local_and_read_only_by_default() -> None:
    ui = _compose()["services"]["temporal-ui"]
    assert ui["ports"] == ["127.0.0.1:8233:8080"]
    assert ui["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == (
        "${TEMPORAL_UI_WRITE_ACTIONS_DISABLED:-true}"
    )


def test_the_app_uses_its_own_roles_never_the_superuser() -> None:
    services = _compose()["services"]
    for name in ("api", "worker"):
        url = services[name]["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://issuesight_app:"), name
    assert services["migrate"]["environment"]["DATABASE_URL"].startswith(
        "postgresql+psycopg://issuesight_owner:"
    )
    postgres = services["postgres"]
    assert postgres["environment"]["POSTGRES_USER"] == "postgres"
    assert services["temporal"]["environment"]["POSTGRES_USER"] == "postgres"
    mounted = [v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v]
    source = mounted[0].split(":")[0]
    assert (ROOT / source).is_file()


def test_metrics_and_docs_stay_off_the_published_port() -> None:
    api = _compose()["services"]["api"]
    assert api["ports"] == ["8000:8000"]
    assert api["environment"]["API_INTERNAL_PORT"] == "9000"
    assert api["expose"] == ["9000"]


def test_images_are_pinned_by_version() -> None:
    services = _compose()["services"]
    images = [s["image"] for s in services.values() if "image" in s]
    for image in images:
        tag = image.partition(":")[2]
        assert tag not in ("", "latest"), image
        assert any(ch.isdigit() for ch in tag.split("@")[0]), image
    base = (ROOT / "Dockerfile").read_text().split("FROM ", 1)[1].split()[0]
    assert base.count(".") >= 2, f"{base} is not pinned to a patch version"
    assert "constraints.txt" in (ROOT / "Dockerfile").read_text()


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_validates() -> None:
    cli = _compose_cli()
    if cli is None:
        warnings.warn("no `docker compose` CLI here: compose validation SKIPPED", stacklevel=1)
        pytest.skip("docker compose is not installed")
    env = {**os.environ, **{name: "set-for-validation" for name in REQUIRED}}
    valid = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True, check=False
    )
    assert valid.returncode == 0, valid.stderr.decode()
    missing = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    refused = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config", "-q"], env=missing, capture_output=True, check=False
    )
    assert refused.returncode != 0
    assert b"OPENAI_API_KEY" in refused.stderr


def test_the_image_and_compose_require_keys() -> None:
    """A deployment is never left open: keys mode unless an operator says otherwise."""
    environment = _compose()["services"]["api"]["environment"]
    assert environment["AUTH_MODE"] == "${AUTH_MODE:-keys}"
    # GitHub sign-in: by invitation unless an operator opens it; its secret for the API alone.
    assert environment["GITHUB_SIGNUP"] == "${GITHUB_SIGNUP:-invite}"
    assert "GITHUB_OAUTH_CLIENT_SECRET" in environment
    assert "GITHUB_OAUTH_CLIENT_SECRET" not in _compose()["services"]["worker"]["environment"]
    assert "AUTH_MODE=keys" in (ROOT / "Dockerfile").read_text()
    text = COMPOSE.read_text()
    assert "issuesight users create" in text  # how to make the first admin
    assert "issuesight keys create" in text
