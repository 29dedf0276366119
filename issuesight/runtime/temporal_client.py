"""Connecting to Temporal: a local dev server, a self-hosted cluster (mTLS) or Temporal Cloud."""

from __future__ import annotations

from temporalio.client import Client
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
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            api_key=api_key,
            tls=tls_config(settings),
            runtime=runtime,
        )
    except RuntimeError as exc:  # the SDK's "Failed client connect: …"
        raise TemporalUnavailable(
            f"Temporal at {settings.temporal_address} is unreachable ({exc})"
        ) from exc


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A runtime exporting the SDK's own metrics (task latencies, slots, polls) to Prometheus."""
    if settings.temporal_metrics_port is None:
        return None
    bind = f"0.0.0.0:{settings.temporal_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))
