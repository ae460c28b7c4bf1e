"""Organisation tree ("组织架构"), employees and roles ("权限管理")."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from appliance.api.graphql.common import (
    DeleteResult,
    deleted_one,
    parse_id,
    parse_ids,
    parse_optional_id,
    run,
    run_on,
)
from appliance.api.graphql.context import IsAdmin, IsAuthenticated, actor_of
from appliance.api.graphql.errors import UserError, call
from appliance.domain.organization import Action
from appliance.services import employees, organizations, roles

ActionType = strawberry.enum(Action, name="Action")


@strawberry.type
class Organization:
    id: strawberry.ID
    name: str
    prefix: str
    device_id: strawberry.ID | None
    parent_id: strawberry.ID | None

    @classmethod
    def of(cls, v: organizations.OrgView) -> Organization:
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
    def of(cls, v: employees.EmployeeView) -> Employee:
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
    def of(cls, v: roles.RoleView) -> Role:
        return cls(
            id=strawberry.ID(str(v.id)),
            name=v.name,
            department_ids=[strawberry.ID(str(d)) for d in v.department_ids],
            actions=v.actions,
        )


@strawberry.input
class OrganizationInput:
    name: str
    prefix: str = strawberry.field(
        description="1 to 4 upper-case letters; logins are prefix + extension"
    )
    device_id: strawberry.ID | None = None
    parent_id: strawberry.ID | None = None

    def to_spec(self) -> organizations.OrgSpec:
        return organizations.OrgSpec(
            self.name,
            self.prefix,
            parse_optional_id(self.device_id, "deviceId"),
            parse_optional_id(self.parent_id, "parentId"),
        )


@strawberry.input
class RoleInput:
    name: str
    department_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Departments managed, each with its sub-departments"
    )
    actions: list[ActionType] = strawberry.field(default_factory=list)  # type: ignore[valid-type]

    def to_spec(self) -> roles.RoleSpec:
        return roles.RoleSpec(
            self.name, parse_ids(self.department_ids, "departmentIds"), list(self.actions)
        )


@strawberry.input
class EmployeeInput:
    extension: str
    name: str
    organization_id: strawberry.ID
    password: str | None = strawberry.field(default=None, description="Empty on update keeps it")
    phone: str = ""
    role_ids: list[strawberry.ID] = strawberry.field(default_factory=list)

    def to_spec(self) -> employees.EmployeeSpec:
        return employees.EmployeeSpec(
            self.extension,
            self.name,
            self.password or None,
            self.phone,
            parse_ids([self.organization_id], "organizationId")[0],
            parse_ids(self.role_ids, "roleIds"),
        )


OrganizationResult = Annotated[Organization | UserError, strawberry.union("OrganizationResult")]
RoleResult = Annotated[Role | UserError, strawberry.union("RoleResult")]
EmployeeResult = Annotated[Employee | UserError, strawberry.union("EmployeeResult")]
DeleteOutcome = Annotated[DeleteResult | UserError, strawberry.union("DeleteOutcome")]


@strawberry.type
class OrganizationQueries:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The whole tree, flat")
    async def organizations(self, info: Info) -> list[Organization]:
        return [Organization.of(v) for v in await call(organizations.list_orgs, actor_of(info))]

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
        found = await call(employees.list_employees, actor_of(info), org, include_sub_organizations)
        return [Employee.of(v) for v in found]

    @strawberry.field(permission_classes=[IsAdmin])
    async def roles(self, info: Info) -> list[Role]:
        return [Role.of(v) for v in await call(roles.list_roles, actor_of(info))]


@strawberry.type
class OrganizationMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_organization(self, info: Info, input: OrganizationInput) -> OrganizationResult:
        return await run(organizations.create_org, Organization.of, actor_of(info), input.to_spec)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_organization(
        self, info: Info, id: strawberry.ID, input: OrganizationInput
    ) -> OrganizationResult:
        return await run_on(
            id,
            "organisation",
            organizations.update_org,
            Organization.of,
            actor_of(info),
            input.to_spec,
        )

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_organization(self, info: Info, id: strawberry.ID) -> DeleteOutcome:
        return await run_on(
            id, "organisation", organizations.delete_org, deleted_one, actor_of(info)
        )

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_role(self, info: Info, input: RoleInput) -> RoleResult:
        return await run(roles.create_role, Role.of, actor_of(info), input.to_spec)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_role(self, info: Info, id: strawberry.ID, input: RoleInput) -> RoleResult:
        return await run_on(id, "role", roles.update_role, Role.of, actor_of(info), input.to_spec)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_role(self, info: Info, id: strawberry.ID) -> DeleteOutcome:
        return await run_on(id, "role", roles.delete_role, deleted_one, actor_of(info))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_employee(self, info: Info, input: EmployeeInput) -> EmployeeResult:
        return await run(employees.create_employee, Employee.of, actor_of(info), input.to_spec)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_employee(
        self, info: Info, id: strawberry.ID, input: EmployeeInput
    ) -> EmployeeResult:
        return await run_on(
            id, "employee", employees.update_employee, Employee.of, actor_of(info), input.to_spec
        )

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_employee(self, info: Info, id: strawberry.ID) -> DeleteOutcome:
        return await run_on(id, "employee", employees.delete_employee, deleted_one, actor_of(info))
