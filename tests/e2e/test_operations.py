"""The operator's view: jobs findable in Temporal by repository and status, metrics that move,
health of the worker, graceful SIGTERM, and logs free of secrets."""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path

import httpx
import pytest

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.core.settings import Settings
from issuesight.domain.refs import parse_issue_ref
from issuesight.orchestration.temporal_client import tls_config
from tests.helpers import (
    GITHUB_TOKEN,
    OPENAI_KEY,
    WEBHOOK_SECRET,
    MakeStack,
    assert_eventually,
    start_worker,
    wait_finished,
)


async def test_jobs_are_found_by_repository_and_status_in_temporal(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url)
    repo = f"octo-org/{repo_name.lower()}"
    ok = await stack.api.post("/api/v1/tutorials", json={"issue": f"{repo}#1"})
    bad = await stack.api.post("/api/v1/tutorials", json={"issue": f"{repo}#77"})
    await wait_finished(stack.api, ok.json()["status_url"])
    await wait_finished(stack.api, bad.json()["status_url"])

    async def listed(query: str) -> set[str]:
        return {w.id async for w in stack.client.list_workflows(query)}

    completed_id = parse_issue_ref(f"{repo}#1").workflow_id
    failed_id = parse_issue_ref(f"{repo}#77").workflow_id

    async def visible() -> bool:
        by_repo = await listed(f"IssueRepo = '{repo}'")
        failed = await listed(f"IssueRepo = '{repo}' AND TutorialStatus = 'FAILED'")
        done = await listed("TutorialStatus = 'COMPLETED' AND Difficulty = 'beginner'")
        number = await listed(f"IssueRepo = '{repo}' AND IssueNumber = 77")
        return (
            by_repo == {completed_id, failed_id}
            and failed == {failed_id}
            and completed_id in done
            and number == {failed_id}
        )

    await assert_eventually(visible, within=20, interval=0.5)
    description = await stack.client.get_workflow_handle(completed_id).describe()
    assert (await description.memo_value("title")) == "greet() crashes when name is None"


async def test_metrics_move_when_a_tutorial_completes(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url)

    def sample(text: str, name: str, labels: str = "") -> float:
        pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$"
        found = re.search(pattern, text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    before = (await stack.api.get("/metrics")).text
    response = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    await wait_finished(stack.api, response.json()["status_url"])
    after = (await stack.api.get("/metrics")).text

    completed = 'issuesight_tutorials_total{outcome="completed"}'
    assert sample(after, completed) == sample(before, completed) + 1
    prompt = 'issuesight_llm_tokens_total{kind="prompt"}'
    assert sample(after, prompt) > sample(before, prompt)
    ok_calls = 'issuesight_llm_calls_total{outcome="ok"}'
    assert sample(after, ok_calls) == sample(before, ok_calls) + 1
    github_ok = 'issuesight_github_requests_total{status="200"}'
    assert sample(after, github_ok) > sample(before, github_ok)
    assert sample(after, "issuesight_github_rate_limit_remaining") > 0
    assert 'route="/api/v1/tutorials"' in after
    assert "issuesight_http_request_duration_seconds_bucket" in after
    assert response.headers["x-request-id"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
async def test_sigterm_mid_generation_loses_nothing_and_logs_no_secret(
    make_stack: MakeStack,
    database_url: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
    tmp_path: Path,
) -> None:
    seed_hello_world(github, repo_name, body=f"my token is {GITHUB_TOKEN}, key {OPENAI_KEY}")
    llm.latency = 3.0
    port = _free_port()
    stack = await make_stack(
        database_url, worker=False, llm_timeout_seconds=30.0, worker_http_port=port
    )
    log = tmp_path / "worker.log"
    first = start_worker(stack.settings, tmp_path, log, extra_env={"WORKER_HTTP_PORT": str(port)})
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def healthy() -> bool:
                try:
                    return (await http.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await assert_eventually(healthy, within=30, interval=0.3)
            assert "issuesight_github_requests_total" in (await http.get("/metrics")).text
        response = await stack.api.post(
            "/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"}
        )
        await assert_eventually(lambda: llm.in_flight == 1, within=30)
        first.send_signal(signal.SIGTERM)
        # The in-flight generation finishes within the grace period, then the process exits.
        assert first.wait(timeout=40) == 0, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    second = start_worker(stack.settings, tmp_path, log)
    try:
        body = await wait_finished(stack.api, response.json()["status_url"], within=60)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    assert body["status"] == "COMPLETED"
    assert body["generation"] == 1
    assert llm.count() == 1  # graceful: the call in flight was not wasted

    logs = log.read_text()
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(line["message"] == "worker started" for line in lines)
    for secret in (GITHUB_TOKEN, OPENAI_KEY, WEBHOOK_SECRET):
        assert secret not in logs
    answer = json.dumps(body)
    for secret in (GITHUB_TOKEN, OPENAI_KEY):
        assert secret not in answer


def test_tls_and_api_key_settings(tmp_path: Path) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    plain = Settings(_env_file=None)
    assert tls_config(plain) is False
    cloud = Settings(_env_file=None, temporal_api_key="tcld-key")
    assert tls_config(cloud) is True
    mtls = Settings(_env_file=None, temporal_tls_cert=cert, temporal_tls_key=key)
    config = tls_config(mtls)
    assert not isinstance(config, bool)
    assert config.client_cert == cert.read_bytes()
    assert config.client_private_key == key.read_bytes()
    half = Settings(_env_file=None, temporal_tls_cert=cert)
    with pytest.raises(ValueError, match="together"):
        tls_config(half)


def test_log_lines_carry_the_request_id_and_context() -> None:
    import io
    import logging

    from issuesight.core.logs import REQUEST_ID, JsonFormatter, RequestIdFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter([GITHUB_TOKEN]))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("issuesight.test-request-id")
    logger.addHandler(handler)
    logger.propagate = False
    token = REQUEST_ID.set("req-123")
    try:
        logger.warning("submitted %s", GITHUB_TOKEN, extra={"issue_key": "o/r#1"})
    finally:
        REQUEST_ID.reset(token)
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["request_id"] == "req-123"
    assert line["issue_key"] == "o/r#1"
    assert line["message"] == "submitted [redacted]"
