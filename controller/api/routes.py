"""HTTP routes: Azure's management API (reference §8.1) and the dashboard's extensions.

Thin by contract (import-linter): parse the request, check the role, call
``controller.api.service``, shape the answer. Status codes follow reference §4.2: PUT 201
created / 200 replaced, PATCH 200, DELETE 200, POST enable/disable/run 200.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from controller.api import models
from controller.api.auth import Principal
from controller.api.service import ApiError, Service
from controller.core.durations import suspend_length
from worker.contract import HistoryStatus

ARM = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Scheduler"
COLL = ARM + "/jobCollections/{jobCollectionName}"
JOB = COLL + "/jobs/{jobName}"
RESOURCE = r"^[A-Za-z0-9._()-]{1,90}$"
FILTER = re.compile(r"^\s*(state|status)\s+eq\s+'?([A-Za-z]+)'?\s*$", re.IGNORECASE)
JOB_STATES = ("enabled", "disabled", "completed", "faulted")
HISTORY_STATES = get_args(HistoryStatus)  # the history entries' statuses, abandoned and interrupted too

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": models.ErrorResponse, "description": text}
    for code, text in (
        (400, "invalid request: every problem is listed in error.details"),
        (401, "missing or unknown bearer token"),
        (403, "the token may read but not write"),
        (404, "no such resource"),
        (409, "quota exceeded, final state, or the resource is defined by another source"),
        (413, "request body too large"),
        (429, "rate limit exceeded (Retry-After)"),
        (503, "Redis is unavailable; retry"),
    )
}

Sub = Annotated[str, Path(pattern=RESOURCE)]
Group = Annotated[str, Path(pattern=RESOURCE)]
CollName = Annotated[str, Path(pattern=models.NAME, max_length=63)]
JobName = Annotated[str, Path(pattern=models.NAME, max_length=63)]
Top = Annotated[int, Query(alias="$top", ge=1, le=100)]
Skip = Annotated[int, Query(alias="$skip", ge=0, le=100_000)]
Filter = Annotated[str | None, Query(alias="$filter", max_length=100)]
ApiVersion = Annotated[str | None, Query(alias="api-version", max_length=20)]


def service(request: Request) -> Service:
    return request.app.state.service


def reader(request: Request) -> Principal:
    return request.app.state.authenticate(request, write=False)


def admin(request: Request) -> Principal:
    return request.app.state.authenticate(request, write=True)


@dataclass(frozen=True)
class Target:
    """The resource a request names: the ARM id prefix, the collection and (for jobs) the job."""

    base: str
    collection: str
    job: str = ""

    @property
    def key(self) -> str:
        return f"{self.collection}/{self.job}"


def collection_target(
    subscriptionId: Sub, resourceGroupName: Group, jobCollectionName: CollName, api_version: ApiVersion = None
) -> Target:
    return Target(base(subscriptionId, resourceGroupName), jobCollectionName)


def job_target(coll: Annotated[Target, Depends(collection_target)], jobName: JobName) -> Target:
    return Target(coll.base, coll.collection, jobName)


@dataclass(frozen=True)
class Paging:
    top: int
    skip: int
    filter: str | None


def paging(top: Top = 100, skip: Skip = 0, filter: Filter = None) -> Paging:
    return Paging(top, skip, filter)


Svc = Annotated[Service, Depends(service)]
Pages = Annotated[Paging, Depends(paging)]
InColl = Annotated[Target, Depends(collection_target)]
InJob = Annotated[Target, Depends(job_target)]
Reader = Annotated[Principal, Depends(reader)]
Admin = Annotated[Principal, Depends(admin)]
router = APIRouter(responses=ERRORS)


def base(sub: str, group: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}"


def parse_filter(text: str | None, field: str, allowed: tuple[str, ...]) -> str | None:
    if not text:
        return None
    m = FILTER.match(text)
    if not m or m.group(1).lower() != field or m.group(2).lower() not in allowed:
        raise ApiError(
            400,
            "MissingOrInvalidRequiredQueryParameter",
            f"$filter must be \"{field} eq '<value>'\" with a value among {', '.join(allowed)}",
        )
    return m.group(2).lower()


def parse_length(text: str) -> Any:
    try:
        return suspend_length(text)
    except ValueError as e:
        raise ApiError(400, "BadRequest", str(e)) from e


def created(response: Response, result: tuple[dict[str, Any], bool]) -> dict[str, Any]:
    response.status_code = 201 if result[1] else 200
    return result[0]


# --- job collections -----------------------------------------------------------------------------
@router.get("/subscriptions/{subscriptionId}/providers/Microsoft.Scheduler/jobCollections", tags=["jobCollections"])
def list_collections_in_subscription(subscriptionId: Sub, svc: Svc, _: Reader) -> models.CollectionList:
    return models.CollectionList.model_validate(
        svc.list_collections(f"/subscriptions/{subscriptionId}/resourceGroups/-")
    )


@router.get(ARM + "/jobCollections", tags=["jobCollections"])
def list_collections(subscriptionId: Sub, resourceGroupName: Group, svc: Svc, _: Reader) -> models.CollectionList:
    return models.CollectionList.model_validate(svc.list_collections(base(subscriptionId, resourceGroupName)))


@router.get(COLL, tags=["jobCollections"])
def get_collection(
    t: InColl,
    svc: Svc,
    _: Reader,
) -> models.CollectionResource:
    return models.CollectionResource.model_validate(svc.get_collection(t.base, t.collection))


@router.put(COLL, tags=["jobCollections"], status_code=200, responses={201: {"model": models.CollectionResource}})
def put_collection(
    t: InColl,
    body: models.CollectionDefinition,
    response: Response,
    svc: Svc,
    _: Admin,
) -> models.CollectionResource:
    result = svc.put_collection(t.base, t.collection, body.model_dump(exclude_unset=True))
    return models.CollectionResource.model_validate(created(response, result))


@router.patch(COLL, tags=["jobCollections"])
def patch_collection(
    t: InColl,
    body: models.CollectionDefinition,
    svc: Svc,
    _: Admin,
) -> models.CollectionResource:
    return models.CollectionResource.model_validate(
        svc.patch_collection(t.base, t.collection, body.model_dump(exclude_unset=True))
    )


@router.delete(COLL, tags=["jobCollections"])
def delete_collection(
    t: InColl,
    svc: Svc,
    _: Admin,
) -> None:
    svc.delete_collection(t.collection)


@router.post(COLL + "/enable", tags=["jobCollections"])
def enable_collection(
    t: InColl,
    svc: Svc,
    _: Admin,
) -> None:
    svc.set_collection_state(t.collection, "enabled")


@router.post(COLL + "/disable", tags=["jobCollections"])
def disable_collection(
    t: InColl,
    svc: Svc,
    _: Admin,
) -> None:
    svc.set_collection_state(t.collection, "disabled")


@router.post(COLL + "/suspend", tags=["overrides"])
def suspend_collection(
    t: InColl,
    body: models.SuspendRequest,
    svc: Svc,
    who: Admin,
) -> models.Override:
    """cronplane extension: suspend every job of the collection for a while (expires by itself)."""
    length = parse_length(body.duration)
    return models.Override.model_validate(svc.suspend("collection", t.collection, length, body.reason, who.name))


@router.post(COLL + "/resume", tags=["overrides"])
def resume_collection(t: InColl, svc: Svc, _: Admin) -> models.Override:
    return models.Override.model_validate(svc.resume("collection", t.collection))


# --- jobs ----------------------------------------------------------------------------------------
@router.get(COLL + "/jobs", tags=["jobs"])
def list_jobs(
    t: InColl,
    svc: Svc,
    _: Reader,
    p: Pages,
) -> models.ResourceList:
    state = parse_filter(p.filter, "state", JOB_STATES)
    page = svc.list_jobs(t.base, t.collection, p.top, p.skip, state)
    return models.ResourceList.model_validate(page)


@router.get(JOB, tags=["jobs"])
def get_job(
    t: InJob,
    svc: Svc,
    _: Reader,
) -> models.Resource:
    return models.Resource.model_validate(svc.get_job(t.base, t.collection, t.job))


@router.put(JOB, tags=["jobs"], status_code=200, responses={201: {"model": models.Resource}})
def put_job(
    t: InJob,
    body: models.JobDefinition,
    response: Response,
    svc: Svc,
    _: Admin,
) -> models.Resource:
    result = svc.put_job(t.base, t.collection, t.job, body.model_dump(exclude_unset=True))
    return models.Resource.model_validate(created(response, result))


@router.patch(JOB, tags=["jobs"])
def patch_job(
    t: InJob,
    body: models.JobPatch,
    svc: Svc,
    _: Admin,
) -> models.Resource:
    patched = svc.patch_job(t.base, t.collection, t.job, body.model_dump(exclude_unset=True))
    return models.Resource.model_validate(patched)


@router.delete(JOB, tags=["jobs"])
def delete_job(
    t: InJob,
    svc: Svc,
    _: Admin,
) -> None:
    svc.delete_job(t.collection, t.job)


@router.post(JOB + "/run", tags=["jobs"])
def run_job(
    t: InJob,
    svc: Svc,
    who: Admin,
    body: models.RunRequest | None = None,
) -> models.RunAccepted:
    """Run now: one extra invocation through the normal path; the schedule and count do not move."""
    reason = (body.reason if body else "") or "run now through the API"
    return models.RunAccepted.model_validate(svc.run_job(t.collection, t.job, reason, who.name))


@router.post(JOB + "/suspend", tags=["overrides"])
def suspend_job(
    t: InJob,
    body: models.SuspendRequest,
    svc: Svc,
    who: Admin,
) -> models.Override:
    """cronplane extension: suspend a job for a while; due occurrences are recorded as skipped."""
    length = parse_length(body.duration)
    key = t.key
    return models.Override.model_validate(svc.suspend("job", key, length, body.reason, who.name))


@router.post(JOB + "/resume", tags=["overrides"])
def resume_job(
    t: InJob,
    svc: Svc,
    _: Admin,
) -> models.Override:
    return models.Override.model_validate(svc.resume("job", t.key))


@router.get(JOB + "/history", tags=["jobs"])
def job_history(
    t: InJob,
    svc: Svc,
    _: Reader,
    p: Pages,
) -> models.ResourceList:
    status = parse_filter(p.filter, "status", HISTORY_STATES)
    page = svc.history(t.base, t.collection, t.job, p.top, p.skip, status)
    return models.ResourceList.model_validate(page)


# --- dashboard extensions ------------------------------------------------------------------------
@router.get("/api/v1/whoami", tags=["dashboard"])
def whoami(request: Request, who: Reader) -> models.WhoAmI:
    return models.WhoAmI(name=who.name, role=who.role, authRequired=request.app.state.tokens.enabled)


@router.get("/api/v1/overview", tags=["dashboard"])
def overview(svc: Svc, _: Reader) -> dict[str, Any]:
    return svc.overview()


@router.get("/api/v1/plan", tags=["dashboard"])
def pending_plan(svc: Svc, _: Reader) -> dict[str, Any]:
    """What the controller's next sync pass would change, with the fire-time diff."""
    return svc.plan()


@router.get("/api/v1/feed", tags=["dashboard"])
def feed(svc: Svc, _: Reader, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> models.ResourceList:
    return models.ResourceList.model_validate({"value": svc.feed(limit), "nextLink": None})


@router.get("/api/v1/jobs/{jobCollectionName}/{jobName}/next", tags=["dashboard"])
def next_runs(
    jobCollectionName: CollName, jobName: JobName, svc: Svc, _: Reader, count: Annotated[int, Query(ge=1, le=50)] = 10
) -> list[str]:
    return svc.next_runs(f"{jobCollectionName}/{jobName}", count)
