"""Operator settings: one typed object, read from TASKENGINE_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASKENGINE_")

    namespaces: list[str] = Field(default_factory=list)
    """Namespaces to serve; empty: all namespaces (cluster-wide)."""
    liveness_port: int = 8080
    """Port of the /healthz endpoint; 0 disables it."""
    http_port: int = 8081
    """Port of the incoming webhooks (POST /hooks/{namespace}/{trigger}); 0 disables it."""
    settle_seconds: float = 0.1
    """How long a burst of changes may settle before objects are re-evaluated."""
    startup_seconds: float = 1.5
    """How long to let the initial lists arrive before the first evaluation."""
    watch_timeout_seconds: int = Field(default=300, ge=1)
    """How long one watch request lasts before it is renewed; lower it behind proxies that cut long connections."""
    leader_election: bool = False
    """Run only while holding a Lease, so that several replicas can run with one active."""
    lease_name: str = "taskengine"
    """Name of the Lease; operators sharing it elect one leader."""
    lease_namespace: str | None = None
    """Namespace of the Lease; default: the pod's own, or `default` outside a cluster."""
    lease_duration_seconds: int = Field(default=15, ge=2)
    """How long a Lease holds without renewal: the longest failover after a crash."""
    pod_name: str | None = None
    """This replica's pod (from the downward API): with leader election, it is labelled
    taskengine.io/leader=true while leading, so a Service can select the leader only."""
    pod_namespace: str | None = None
    """The pod's namespace; default: the Lease's."""
