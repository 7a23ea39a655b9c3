"""The janitor's pass over projects: warn about those whose cleanup comes near, clean up those that are due.

The janitor finds project records in its walk of the bucket (no walk of its own), and hands them here, grouped by
owner so one view of each owner's session index answers for all their projects. For each project, `outlook.judge`
says what is due:

- a warning is announced once per day left (and again when the cleanup time moves): logged, announced on the
  change hook (`project.cleanup_warning`, with `cleanup_at` and `days_left`) and recorded in the project's record,
  so that a second janitor run that day, or another replica's, announces nothing new;
- a cleanup deletes the project as `DELETE /v1/projects/{id}` does, as the janitor: its sessions recoverably
  (an automatic snapshot each), then its record (`project.cleaned_up`). The record is marked only if it is still
  due as it reads then, so an owner who acted after the judgement keeps their project;
- a deletion cut short (a record left marked) is finished.

A dry run judges the same and changes nothing. Acting for an owner (their sessions' grants and links are closed
too) needs the deployment's owner key; a record whose owner does not match where it lies is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway import changes
from gateway.changes import SYSTEM_JANITOR, Change, ChangeHook
from gateway.errors import DamagedRecord, NotFound
from gateway.keys import Owner, OwnerSpace
from gateway.ordered import bounded
from gateway.projects.records import ProjectRecord
from gateway.projects.service import Members, NotDue, Projects
from gateway.wire import iso

log = logging.getLogger(__name__)

WARN = "warn"
CLEAN_UP = "clean-up"
SKIP = "skip"
OWNERS_AT_ONCE = 4


@dataclass(frozen=True)
class ProjectAction:
    kind: str
    key: str
    project_id: str
    reason: str
    cleanup_at: str | None = None
    days_left: int | None = None
    sessions: int = 0

    def describe(self) -> str:
        if self.kind == WARN:
            return (
                f"warn project {self.project_id} ({self.key}): cleanup in {self.days_left} day(s), at "
                f"{self.cleanup_at}: {self.reason}"
            )
        if self.kind == CLEAN_UP:
            return f"clean up project {self.project_id} ({self.key}) and its {self.sessions} session(s): {self.reason}"
        return f"leave project {self.project_id} ({self.key}): {self.reason}"


class ProjectCleanup:
    def __init__(
        self,
        projects: Projects,
        *,
        root: str,
        owner_key: bytes | None,
        hook: ChangeHook,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._projects = projects
        self._root = root
        self._owner_key = owner_key
        self._hook = hook
        self._clock = clock

    async def sweep(self, found: list[tuple[OwnerSpace, str]], *, dry_run: bool) -> list[ProjectAction]:
        """Judge (and unless `dry_run`, act on) the projects `found` by the janitor's walk."""
        by_owner: dict[str, list[str]] = {}
        for space, project_id in found:
            by_owner.setdefault(space.prefix, []).append(project_id)
        done = await bounded(
            list(by_owner.items()),
            lambda item: self._owner_pass(OwnerSpace(item[0]), item[1], dry_run),
            limit=OWNERS_AT_ONCE,
        )
        return [action for actions in done for action in actions]

    async def _owner_pass(self, space: OwnerSpace, project_ids: list[str], dry_run: bool) -> list[ProjectAction]:
        members = await self._projects.members(space)
        actions = []
        for project_id in project_ids:
            action = await self._one(space, project_id, members.get(project_id, Members()), dry_run)
            if action is not None:
                actions.append(action)
        return actions

    async def _one(self, space: OwnerSpace, project_id: str, members: Members, dry_run: bool) -> ProjectAction | None:
        key = space.project(project_id)
        try:
            record, _ = await self._projects.read(space, project_id)
        except (NotFound, DamagedRecord):
            return None  # gone meanwhile, or damaged (logged where it was read)
        outlook = self._projects.judge(record, members)
        if record.deleting_at is not None:
            action = ProjectAction(CLEAN_UP, key, project_id, "finishing a deletion cut short", sessions=members.count)
        elif outlook.due:
            action = ProjectAction(
                CLEAN_UP,
                key,
                project_id,
                f"idle since {iso(outlook.last_activity_at)}, warned for {record.warning_days} day(s)",
                cleanup_at=None if outlook.cleanup_at is None else iso(outlook.cleanup_at),
                days_left=0,
                sessions=members.count,
            )
        elif outlook.announce and outlook.cleanup_at is not None:
            action = ProjectAction(
                WARN,
                key,
                project_id,
                f"idle since {iso(outlook.last_activity_at)}",
                cleanup_at=iso(outlook.cleanup_at),
                days_left=outlook.days_left,
                sessions=members.count,
            )
        else:
            return None
        if dry_run:
            return action
        return await (self._warn(space, action, members) if action.kind == WARN else self._clean(space, action))

    async def _warn(self, space: OwnerSpace, action: ProjectAction, members: Members) -> ProjectAction | None:
        try:
            outlook = await self._projects.warn(space, action.project_id, members)
        except (NotDue, NotFound):
            return None  # its owner acted meanwhile
        cleanup_at = None if outlook.cleanup_at is None else iso(outlook.cleanup_at)
        done = ProjectAction(
            WARN, action.key, action.project_id, action.reason, cleanup_at, outlook.days_left, members.count
        )
        log.warning("%s", done.describe())
        await self._hook.announce(
            Change(
                action=changes.PROJECT_CLEANUP_WARNING,
                actor=SYSTEM_JANITOR,
                key=action.key,
                detail={
                    "project": action.project_id,
                    "cleanup_at": cleanup_at,
                    "days_left": outlook.days_left,
                    "sessions": members.count,
                },
                at=self._clock(),
            )
        )
        return done

    async def _clean(self, space: OwnerSpace, action: ProjectAction) -> ProjectAction | None:
        owner = await self._owner(space, action.project_id)
        if owner is None:
            return ProjectAction(SKIP, action.key, action.project_id, "its owner cannot be named (see the log)")
        projects = self._projects
        # Read again now: the owner may have used the project since the judgement (a new session, a change).
        members = (await projects.members(space)).get(action.project_id, Members())

        def still(record: ProjectRecord) -> bool:
            return projects.judge(record, members).due

        try:
            count = await projects.delete(owner, action.project_id, actor=SYSTEM_JANITOR, still=still)
        except (NotDue, NotFound):
            return None
        done = ProjectAction(CLEAN_UP, action.key, action.project_id, action.reason, action.cleanup_at, 0, count)
        log.warning("%s", done.describe())
        return done

    async def _owner(self, space: OwnerSpace, project_id: str) -> Owner | None:
        if self._owner_key is None:
            log.error("project %s: the deployment's owner key is not known here; it is not cleaned up", project_id)
            return None
        record, _ = await self._projects.read(space, project_id)
        owner = Owner(self._root, record.tenant, record.user, self._owner_key)
        if owner.prefix != space.prefix:
            log.error("project %s names an owner who does not own %s; it is left alone", project_id, space.prefix)
            return None
        return owner
