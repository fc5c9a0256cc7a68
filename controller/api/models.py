"""The REST API's typed models, from which FastAPI generates the OpenAPI document.

Request bodies follow Azure's management API (reference §8.1): the job ``properties`` are the
manifest ``spec`` (every field documented in the README's manifest reference), so their inner
shape is validated by the manifest schema and rules afterwards, with the messages of
``cronplane validate``. Extra fields are allowed where Azure or cronplane define more.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class RetryPolicy(Open):
    retryType: str = Field(description="none | fixed | exponential (case-insensitive)")
    retryInterval: str | None = Field(None, description="ISO 8601 (PT30S) or TimeSpan text (00:00:30)")
    retryCount: int | None = None


class JobAction(Open):
    type: str = Field(description="http | https | storageQueue | serviceBusQueue | serviceBusTopic")
    request: dict[str, Any] | None = Field(None, description="method, uri, headers, body, authentication")
    queueMessage: dict[str, Any] | None = None
    serviceBusQueueMessage: dict[str, Any] | None = None
    serviceBusTopicMessage: dict[str, Any] | None = None
    retryPolicy: RetryPolicy | None = None
    errorAction: dict[str, Any] | None = None


class JobRecurrence(Open):
    frequency: str = Field(description="minute | hour | day | week | month")
    interval: int | None = None
    count: int | None = None
    endTime: str | None = None
    schedule: dict[str, Any] | None = Field(None, description="minutes, hours, weekDays, monthDays, monthlyOccurrences")


class JobProperties(Open):
    startTime: str | None = None
    action: JobAction
    recurrence: JobRecurrence | None = None
    state: str | None = Field(None, description="enabled | disabled")
    status: dict[str, Any] | None = Field(None, description="read-only; ignored on input")


class JobDefinition(Open):
    """PUT body: an Azure job definition. Secrets must be references ({valueFrom: {env|file}})."""

    properties: JobProperties
    tags: dict[str, str] | None = Field(None, description="stored as the manifest's labels")


class JobPatch(Open):
    """PATCH body: a JSON merge patch of ``properties`` (null removes a field)."""

    properties: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] | None = None


class Sku(Open):
    name: str = Field(description="Free | Standard | P10Premium | P20Premium (case-insensitive)")


class CollectionProperties(Open):
    sku: Sku | None = None
    state: str | None = Field(None, description="enabled | disabled | suspended")
    quota: dict[str, Any] | None = Field(None, description="maxJobCount, maxJobOccurrence, maxRecurrence")


class CollectionDefinition(Open):
    location: str | None = None
    properties: CollectionProperties = Field(default_factory=lambda: CollectionProperties.model_validate({}))
    tags: dict[str, str] | None = None


class RunRequest(BaseModel):
    reason: str = Field("", max_length=500)


class SuspendRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    duration: str = Field(alias="for", description="ISO 8601 (PT1H) or short (1h, 30m, 2d)", max_length=40)
    reason: str = Field(min_length=1, max_length=500)


class Resource(Open):
    id: str
    type: str
    name: str
    properties: dict[str, Any]
    cronplane: dict[str, Any] = Field(default_factory=dict, description="cronplane's read-only facts")


class CollectionResource(Resource):
    location: str


class ResourceList(BaseModel):
    value: list[Resource]
    nextLink: str | None = None


class CollectionList(BaseModel):
    value: list[CollectionResource]
    nextLink: str | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str
    target: str | None = None


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorInfo


class RunAccepted(BaseModel):
    requestId: str
    job: str
    reason: str
    by: str
    requestedAt: str


class Override(BaseModel):
    target: str
    reason: str | None = None
    by: str | None = None
    since: str | None = None
    until: str | None = None
    resumed: bool | None = None


class WhoAmI(BaseModel):
    name: str
    role: str
    authRequired: bool


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
