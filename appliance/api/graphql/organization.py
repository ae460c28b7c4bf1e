"""Organisation tree ("组织架构"), employees and roles ("权限管理")."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from appliance.api.graphql.context import IsAdmin, IsAuthenticated, actor_of
from appliance.api.graphql.errors import UserError, attempt, call
from appliance.api.graphql.recordings import DeleteResult, parse_id
from appliance.domain.organization import Action
from appliance.services import organization as service

ActionType = strawberry.enum(Action, name="Action")


@strawberry.type
class Organization:
    id: strawberry.ID
    name: str
    prefix: str
    device_id: strawberry.ID | None
    parent_id: strawberry.ID | None

    @classmethod
    def of(cls, v: service.OrgView) -> Organization:
        return cls(
            id=strawberry.ID(str(v.id)),
            name=v.name,
            prefix=v.prefix,
            device_id=strawberry.ID(str(v.device_id)) if v.device_id else None,
            parent_id=strawberry.ID(str(v.parent_id)) if v.parent_id else None,
        )


@strawberry.type
class Employee:
    id: strawberry.ID
    login: str
    extension: str
    name: str
    phone: str
    organization_id: strawberry.ID
    role_ids: list[strawberry.ID]

    @classmethod
    def of(cls, v: service.EmployeeView) -> Employee:
        return cls(
            id=strawberry.ID(str(v.id)),
            login=v.login,
            extension=v.extension,
            name=v.name,
            phone=v.phone,
            organization_id=strawberry.ID(str(v.organization_id)),
            role_ids=[strawberry.ID(str(r)) for r in v.role_ids],
        )


@strawberry.type
class Role:
    id: strawberry.ID
    name: str
    department_ids: list[strawberry.ID]
    actions: list[ActionType]  # type: ignore[valid-type]

    @classmethod
    def of(cls, v: service.RoleView) -> Role:
        return cls(
            id=strawberry.ID(str(v.id)),
            name=v.name,
            department_ids=[strawberry.ID(str(d)) for d in v.department_ids],
            actions=v.actions,
        )


def _ids(values: list[strawberry.ID], field: str) -> list[int]:
    parsed = [parse_id(v) for v in values]
    if any(p is None for p in parsed):
        from appliance.errors import InvalidInput

        raise InvalidInput(f"{field}: not an id", field=field, code="not_an_id")
    return [p for p in parsed if p is not None]


def _optional_id(value: strawberry.ID | None, field: str) -> int | None:
    return None if value in (None, "") else _ids([value], field)[0]


@strawberry.input
class OrganizationInput:
    name: str
    prefix: str = strawberry.field(
        description="1 to 4 upper-case letters; logins are prefix + extension"
    )
    device_id: strawberry.ID | None = None
    parent_id: strawberry.ID | None = None

    def to_spec(self) -> service.OrgSpec:
        return service.OrgSpec(
            self.name,
            self.prefix,
            _optional_id(self.device_id, "deviceId"),
            _optional_id(self.parent_id, "parentId"),
        )


@strawberry.input
class RoleInput:
    name: str
    department_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Departments managed, each with its sub-departments"
    )
    actions: list[ActionType] = strawberry.field(default_factory=list)  # type: ignore[valid-type]

    def to_spec(self) -> service.RoleSpec:
        return service.RoleSpec(
            self.name, _ids(self.department_ids, "departmentIds"), list(self.actions)
        )


@strawberry.input
class EmployeeInput:
    extension: str
    name: str
    organization_id: strawberry.ID
    password: str | None = strawberry.field(default=None, description="Empty on update keeps it")
    phone: str = ""
    role_ids: list[strawberry.ID] = strawberry.field(default_factory=list)

    def to_spec(self) -> service.EmployeeSpec:
        return service.EmployeeSpec(
            self.extension,
            self.name,
            self.password or None,
            self.phone,
            _ids([self.organization_id], "organizationId")[0],
            _ids(self.role_ids, "roleIds"),
        )


OrganizationResult = Annotated[Organization | UserError, strawberry.union("OrganizationResult")]
RoleResult = Annotated[Role | UserError, strawberry.union("RoleResult")]
EmployeeResult = Annotated[Employee | UserError, strawberry.union("EmployeeResult")]
DeleteOutcome = Annotated[DeleteResult | UserError, strawberry.union("DeleteOutcome")]


async def _run(fn: Any, wrap: Any, *args: Any) -> Any:
    """Build the input's spec and run the use case; expected failures come back typed."""
    from appliance.errors import ApplianceError

    try:
        built = [a() if callable(a) else a for a in args]
    except ApplianceError as exc:
        return UserError.of(exc)
    result = await attempt(fn, *built)
    return result if isinstance(result, UserError) else wrap(result)


async def _run_on(
    raw_id: strawberry.ID, what: str, fn: Any, wrap: Any, actor: Any, *args: Any
) -> Any:
    """_run for a use case on one existing object; an id that cannot exist is NOT_FOUND."""
    target = parse_id(raw_id)
    if target is None:
        return UserError(code="NOT_FOUND", message=f"no such {what}", field="id")
    return await _run(fn, wrap, actor, target, *args)


def _deleted(_: object) -> DeleteResult:
    return DeleteResult(deleted=1)


@strawberry.type
class OrganizationQueries:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The whole tree, flat")
    async def organizations(self, info: Info) -> list[Organization]:
        return [Organization.of(v) for v in await call(service.list_orgs, actor_of(info))]

    @strawberry.field(permission_classes=[IsAdmin])
    async def employees(
        self,
        info: Info,
        organization_id: strawberry.ID | None = None,
        include_sub_organizations: bool = True,
    ) -> list[Employee]:
        org = parse_id(organization_id) if organization_id is not None else None
        if organization_id is not None and org is None:
            return []
        found = await call(service.list_employees, actor_of(info), org, include_sub_organizations)
        return [Employee.of(v) for v in found]

    @strawberry.field(permission_classes=[IsAdmin])
    async def roles(self, info: Info) -> list[Role]:
        return [Role.of(v) for v in await call(service.list_roles, actor_of(info))]


@strawberry.type
class OrganizationMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_organization(self, info: Info, input: OrganizationInput) -> OrganizationResult:
        return await _run(service.create_org, Organization.of, actor_of(info), input.to_spec)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_organization(
        self, info: Info, id: strawberry.ID, input: OrganizationInput
    ) -> OrganizationResult:
        return await _run_on(
            id, "organisation", service.update_org, Organization.of, actor_of(info), input.to_spec
        )

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_organization(self, info: Info, id: strawberry.ID) -> DeleteOutcome:
        return await _run_on(id, "organisation", service.delete_org, _deleted, actor_of(info))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_role(self, info: Info, input: RoleInput) -> RoleResult:
        return await _run(service.create_role, Role.of, actor_of(info), input.to_spec)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_role(self, info: Info, id: strawberry.ID, input: RoleInput) -> RoleResult:
        return await _run_on(
            id, "role", service.update_role, Role.of, actor_of(info), input.to_spec
        )

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_role(self, info: Info, id: strawberry.ID) -> DeleteOutcome:
        return await _run_on(id, "role", service.delete_role, _deleted, actor_of(info))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_employee(self, info: Info, input: EmployeeInput) -> EmployeeResult:
        return await _run(service.create_employee, Employee.of, actor_of(info), input.to_spec)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_employee(
        self, info: Info, id: strawberry.ID, input: EmployeeInput
    ) -> EmployeeResult:
        return await _run_on(
            id, "employee", service.update_employee, Employee.of, actor_of(info), input.to_spec
        )

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_employee(self, info: Info, id: strawberry.ID) -> DeleteOutcome:
        return await _run_on(id, "employee", service.delete_employee, _deleted, actor_of(info))
