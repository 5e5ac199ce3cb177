"""Task: what to do, to which objects, on which triggers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from taskengine.api import common
from taskengine.api.common import Model

TARGETED_ACTIONS = ("scale", "patch", "delete", "restart")
ACTIONS = (*TARGETED_ACTIONS, "create", "run", "webhook", "email")


class Target(Model):
    """The objects a Task acts on: one object by name, or every object carrying a tag."""

    model_config = ConfigDict(
        json_schema_extra=common.cel(
            common.rule(
                "has(self.name) != has(self.selector)",
                "exactly one of name or selector must be set",
            )
        )
    )

    api_version: str = Field(min_length=1, max_length=253)
    """apiVersion of the target kind, e.g. apps/v1 (any kind the cluster serves)."""
    kind: str = Field(min_length=1, max_length=63)
    """Kind of the targets, e.g. Deployment."""
    name: str | None = Field(default=None, pattern=common.DNS_SUBDOMAIN, max_length=253)
    """One object by name. Exactly one of name or selector."""
    selector: common.LabelSelector | None = None
    """Every object whose labels match (the "tag"). Exactly one of name or selector."""
    namespace: str | None = Field(default=None, pattern=common.DNS_LABEL, max_length=63)
    """Namespace of the targets. Default: the Task's namespace."""
    max_targets: int = Field(default=50, ge=1)
    """Blast-radius guard: a selector matching more objects fails the run before touching any. Default 50."""


class ScaleAction(Model):
    """Set the replica count, or restore the count saved when a task last scaled the object."""

    model_config = ConfigDict(json_schema_extra=common.cel(common.exactly_one("replicas", "restore")))

    replicas: int | None = Field(default=None, ge=0)
    """The replica count to set."""
    restore: bool | None = None
    """true: scale back to the count saved when a task last scaled the object."""


class PatchAction(Model):
    """Patch every target."""

    type: Literal["merge", "json", "strategic"] = "merge"
    """merge (RFC 7386), json (RFC 6902) or strategic. Default merge."""
    patch: Any
    """The patch: an object for merge and strategic, a list of operations for json. Variables are expanded in strings."""


class DeleteAction(Model):
    """Delete every target."""

    propagation_policy: Literal["Background", "Foreground", "Orphan"] = "Background"
    """How dependents are deleted. Default Background."""


class RestartAction(Model):
    """Rollout restart of a Deployment, StatefulSet or DaemonSet (as `kubectl rollout restart`)."""


class CreateAction(Model):
    """Create an object from a manifest."""

    manifest: dict[str, Any]
    """The object to create. Variables are expanded in its string values. Default namespace: the Task's."""


class EnvVar(Model):
    """An environment variable of the Job's container."""

    name: str = Field(min_length=1)
    """Name of the variable."""
    value: str = ""
    """Value; variables are expanded."""


class RunAction(Model):
    """Run a container as a Job; the run succeeds when the Job completes, fails when it fails."""

    image: str = Field(min_length=1)
    """Container image."""
    command: list[str] = Field(default_factory=list)
    """Entrypoint; variables are expanded."""
    args: list[str] = Field(default_factory=list)
    """Arguments; variables are expanded."""
    env: list[EnvVar] = Field(default_factory=list)
    """Environment variables."""


class WebhookAction(Model):
    """Call a Webhook."""

    webhook_ref: str = Field(pattern=common.DNS_SUBDOMAIN, max_length=253)
    """Name of a Webhook in this namespace."""
    payload: str | None = None
    """Request body; variables such as ${NAME} and ${DATE} are expanded (JSON-escaped in JSON)."""


class EmailAction(Model):
    """Send an email through an SMTP server described by a Secret."""

    smtp_secret_ref: str = Field(pattern=common.DNS_SUBDOMAIN, max_length=253)
    """Secret with keys host, port, from, and optionally username, password, security (starttls, tls or none)."""
    to: list[str] = Field(min_length=1)
    """Recipients."""
    cc: list[str] = Field(default_factory=list)
    """Copy recipients."""
    subject: str
    """Subject; variables are expanded."""
    body: str = ""
    """Plain-text body; variables are expanded."""


class Action(Model):
    """What the Task does: exactly one key."""

    model_config = ConfigDict(json_schema_extra=common.cel(common.exactly_one(*ACTIONS)))

    scale: ScaleAction | None = None
    """Scale the targets (replicas), or restore their saved count."""
    patch: PatchAction | None = None
    """Patch the targets."""
    delete: DeleteAction | None = None
    """Delete the targets."""
    restart: RestartAction | None = None
    """Rollout restart of the targets."""
    create: CreateAction | None = None
    """Create an object."""
    run: RunAction | None = None
    """Run a Job."""
    webhook: WebhookAction | None = None
    """Call a Webhook."""
    email: EmailAction | None = None
    """Send an email."""

    @property
    def kind(self) -> str:
        """The name of the action that is set, e.g. "scale"."""
        return next(name for name in ACTIONS if getattr(self, name) is not None)


class Notification(Model):
    """One alert: a Webhook call or an email. Variables include ${PHASE}."""

    model_config = ConfigDict(json_schema_extra=common.cel(common.exactly_one("webhookRef", "email")))

    webhook_ref: str | None = Field(default=None, pattern=common.DNS_SUBDOMAIN, max_length=253)
    """Name of a Webhook in this namespace."""
    payload: str | None = None
    """Body for the Webhook; variables are expanded."""
    email: EmailAction | None = None
    """An email to send."""


class Notify(Model):
    """Alerts on the stages of a run."""

    on_start: list[Notification] = Field(default_factory=list, max_length=20)
    """When a run starts."""
    on_success: list[Notification] = Field(default_factory=list, max_length=20)
    """When a run succeeds."""
    on_failure: list[Notification] = Field(default_factory=list, max_length=20)
    """When a run fails, times out or is terminated."""


class Retries(Model):
    """Retry a failed attempt, with exponential backoff."""

    limit: int = Field(default=0, ge=0, le=100)
    """Further attempts after the first fails. Default 0."""
    backoff_seconds: int = Field(default=5, ge=0)
    """Wait before the first retry; doubles each time. Default 5."""
    max_backoff_seconds: int = Field(default=300, ge=0)
    """Longest wait between attempts. Default 300."""


class History(Model):
    """How many finished TaskLogs to keep."""

    successful_limit: int = Field(default=10, ge=0)
    """Succeeded TaskLogs kept. Default 10."""
    failed_limit: int = Field(default=10, ge=0)
    """Failed, terminated and skipped TaskLogs kept. Default 10."""


class TaskSpec(Model):
    """What to do, to which objects, when."""

    model_config = ConfigDict(
        json_schema_extra=common.cel(
            common.rule(
                "has(self.target) || !(" + " || ".join(f"has(self.action.{a})" for a in TARGETED_ACTIONS) + ")",
                "target is required for the scale, patch, delete and restart actions",
                field_path=".target",
            ),
            common.rule(
                "!has(self.dependsOn) || size(self.dependsOn) == 0 || has(self.group)",
                "dependsOn is only allowed inside a group: set group",
                field_path=".dependsOn",
            ),
        )
    )

    description: str | None = None
    """What the task is for."""
    enabled: bool = True
    """false pauses the task: its triggers are ignored and no run starts. Default true."""
    target: Target | None = None
    """The objects to act on; omit for actions that need none (webhook, email, run, create)."""
    action: Action
    """What to do: exactly one of scale, patch, delete, restart, create, run, webhook, email."""
    triggers: list[common.TriggerRef] = Field(default_factory=list, max_length=50)
    """Schedules and EventTriggers that start the task. Any number of each."""
    group: str | None = Field(default=None, pattern=common.DNS_SUBDOMAIN, max_length=253)
    """The TaskGroup (in this namespace) the task belongs to."""
    depends_on: list[str] = Field(default_factory=list, max_length=100)
    """Tasks of the same group that must finish first."""
    run_if: Literal["Succeeded", "Failed", "Always"] = "Succeeded"
    """Run after dependsOn when they Succeeded, Failed, or Always. Default Succeeded."""
    params: dict[str, str] = Field(default_factory=dict)
    """Defaults of the template variables ${params.<key>}."""
    retries: Retries = Field(default_factory=Retries)
    """Retry attempts and backoff."""
    timeout_seconds: int = Field(default=1800, ge=1)
    """Max run time in seconds; the run then fails with reason Timeout. Default 1800."""
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Allow"
    """When a run is due while one is running: Allow both, Forbid (skip the new one) or Replace (terminate the old one)."""
    delete_after_run: bool = False
    """One-time task: the Task deletes itself after its first run ends."""
    service_account_name: str = Field(default="default", pattern=common.DNS_SUBDOMAIN, max_length=253)
    """Actions are performed as this ServiceAccount of the Task's namespace. Default: default."""
    notify: Notify = Field(default_factory=Notify)
    """Alerts on start, success and failure."""
    history: History = Field(default_factory=History)
    """How many finished TaskLogs to keep."""


class TaskStatus(common.StatusBase):
    """What the operator observed."""

    phase: Literal["Idle", "Running", "Paused", "Invalid"] | None = None
    """Idle, Running, Paused (enabled: false, or its group is inactive) or Invalid (see the Ready condition)."""
    last_run: common.LastRun | None = None
    """The most recent run."""
    next_run_time: str | None = None
    """When a schedule next runs the task."""
    last_handled_run_request: str | None = None
    """The last taskengine.io/run-requested-at value acted on (as Flux's lastHandledReconcileAt)."""


class Task(Model):
    """An action on a Kubernetes object, or on every object with a tag, run by triggers or on demand."""

    spec: TaskSpec
    status: TaskStatus | None = None
