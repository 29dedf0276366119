"""Connecting to Temporal: a local dev server, a self-hosted cluster (mTLS) or Temporal Cloud."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    CreateScheduleInput,
    DeleteScheduleInput,
    DescribeScheduleInput,
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    PauseScheduleInput,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    TerminateWorkflowInput,
    TriggerScheduleInput,
    UnpauseScheduleInput,
    UpdateScheduleInput,
    WorkflowHandle,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from issuesight.core.settings import Settings


def tls_config(settings: Settings) -> TLSConfig | bool:
    if settings.temporal_tls_cert or settings.temporal_tls_key:
        if not (settings.temporal_tls_cert and settings.temporal_tls_key):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together")
        return TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    # Temporal Cloud's API keys are only accepted over TLS.
    return settings.temporal_api_key is not None


class TemporalUnavailable(RuntimeError):
    """Temporal could not be reached to connect. (A call on a connected client that fails
    raises the SDK's RPCError instead; callers that start work handle both.)"""


async def connect_temporal(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """Connects within TEMPORAL_RPC_TIMEOUT_SECONDS (a host that accepts the connection and
    never answers held the SDK's connect forever), with that bound on every short call the
    client makes afterwards (RpcTimeout)."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    timeout = settings.temporal_rpc_timeout_seconds
    try:
        return await asyncio.wait_for(
            Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                api_key=api_key,
                tls=tls_config(settings),
                runtime=runtime,
                interceptors=[RpcTimeout(timedelta(seconds=timeout))],
            ),
            timeout,
        )
    except TimeoutError as exc:
        raise TemporalUnavailable(
            f"Temporal at {settings.temporal_address} did not answer within {timeout:g} s"
        ) from exc
    except RuntimeError as exc:  # the SDK's "Failed client connect: …"
        raise TemporalUnavailable(
            f"Temporal at {settings.temporal_address} is unreachable ({exc})"
        ) from exc


class RpcTimeout(Interceptor):
    """A default deadline for the client's short calls: starting, describing, querying,
    signalling and terminating workflows, and every schedule call. A call that sets its own
    keeps it. Long polls (fetching history while waiting for a workflow's result) and worker
    polls are left alone: they are meant to wait."""

    def __init__(self, timeout: timedelta) -> None:
        self.timeout = timeout

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _RpcTimeoutOutbound(next, self.timeout)


class _RpcTimeoutOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, timeout: timedelta) -> None:
        super().__init__(next)
        self._timeout = timeout

    def _bounded(self, input: Any) -> Any:
        if input.rpc_timeout is not None:
            return input
        return dataclasses.replace(input, rpc_timeout=self._timeout)

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        return await self.next.start_workflow(self._bounded(input))

    async def describe_workflow(self, input: DescribeWorkflowInput) -> Any:
        return await self.next.describe_workflow(self._bounded(input))

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return await self.next.query_workflow(self._bounded(input))

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        await self.next.signal_workflow(self._bounded(input))

    async def terminate_workflow(self, input: TerminateWorkflowInput) -> None:
        await self.next.terminate_workflow(self._bounded(input))

    async def create_schedule(self, input: CreateScheduleInput) -> Any:
        return await self.next.create_schedule(self._bounded(input))

    async def describe_schedule(self, input: DescribeScheduleInput) -> Any:
        return await self.next.describe_schedule(self._bounded(input))

    async def update_schedule(self, input: UpdateScheduleInput) -> None:
        await self.next.update_schedule(self._bounded(input))

    async def pause_schedule(self, input: PauseScheduleInput) -> None:
        await self.next.pause_schedule(self._bounded(input))

    async def unpause_schedule(self, input: UnpauseScheduleInput) -> None:
        await self.next.unpause_schedule(self._bounded(input))

    async def trigger_schedule(self, input: TriggerScheduleInput) -> None:
        await self.next.trigger_schedule(self._bounded(input))

    async def delete_schedule(self, input: DeleteScheduleInput) -> None:
        await self.next.delete_schedule(self._bounded(input))


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A runtime exporting the SDK's own metrics (task latencies, slots, polls) to Prometheus."""
    if settings.temporal_metrics_port is None:
        return None
    bind = f"0.0.0.0:{settings.temporal_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))
