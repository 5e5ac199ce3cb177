"""Webhook: an outbound HTTP endpoint that tasks and alerts call."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from taskengine.api import common
from taskengine.api.common import Model


class WebhookAuth(Model):
    """How to authenticate. The Secret holds `token` (Bearer), `apiKey` (ApiKey) or `username` and `password` (Basic)."""

    model_config = ConfigDict(
        json_schema_extra=common.cel(
            common.rule(
                "self.type == 'None' || has(self.secretRef)",
                "secretRef is required unless type is None",
                field_path=".secretRef",
            )
        )
    )

    type: Literal["None", "Bearer", "ApiKey", "Basic"] = "None"
    """None, Bearer, ApiKey or Basic. Default None."""
    secret_ref: common.SecretRef | None = None
    """The Secret with the credentials."""
    header: str = Field(default="X-API-Key", min_length=1)
    """Header that carries the key for ApiKey. Default X-API-Key."""


class Signing(Model):
    """Sign each delivery with the Standard Webhooks headers webhook-id, webhook-timestamp, webhook-signature."""

    secret_ref: common.SecretKeyRef
    """Secret key holding the signing secret."""


class WebhookSpec(Model):
    """Where and how to deliver."""

    url: str = Field(
        max_length=2048,
        json_schema_extra=common.cel(
            common.rule(
                "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",
                "must be an absolute http:// or https:// URL",
            )
        ),
    )
    """The URL to call, http:// or https://."""
    method: Literal["POST", "PUT", "PATCH", "GET", "DELETE"] = "POST"
    """HTTP method. Default POST."""
    auth: WebhookAuth = Field(default_factory=WebhookAuth)
    """Authentication."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers."""
    insecure_skip_tls_verify: bool = Field(default=False, alias="insecureSkipTLSVerify")
    """Accept any TLS certificate (self-signed test servers). Default false."""
    timeout_seconds: int = Field(default=10, ge=3, le=300)
    """Time allowed for one attempt, 3 to 300 seconds. Default 10."""
    retries: int = Field(default=3, ge=0, le=20)
    """Further attempts on connection errors, timeouts and 5xx, with exponential backoff. Default 3."""
    signing: Signing | None = None
    """Optional Standard Webhooks signature."""


class Delivery(Model):
    """The outcome of the latest delivery."""

    time: str | None = None
    """When it ended."""
    status_code: int | None = None
    """HTTP status of the last attempt."""
    attempts: int | None = None
    """Attempts made."""
    error: str | None = None
    """Error of the last attempt, if any."""


class WebhookStatus(common.StatusBase):
    """What the operator observed."""

    last_delivery: Delivery | None = None
    """The latest delivery."""


class Webhook(Model):
    """An outbound HTTP endpoint (Slack, Teams, a ticket system...) that tasks and alerts call."""

    spec: WebhookSpec
    status: WebhookStatus | None = None
