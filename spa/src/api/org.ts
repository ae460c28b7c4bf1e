import { gql, USER_ERROR, type UserError } from "./gql";

export interface Organization { id: string; name: string; prefix: string; deviceId: string | null; parentId: string | null }
export interface Employee { id: string; login: string; extension: string; name: string; phone: string; organizationId: string; roleIds: string[] }
export interface Role { id: string; name: string; departmentIds: string[]; actions: string[] }
export interface TreeNode { id: string; label: string; org: Organization; children: TreeNode[] }

export async function organizations(): Promise<Organization[]> {
  return (await gql<{ organizations: Organization[] }>("{ organizations { id name prefix deviceId parentId } }")).organizations;
}

export function tree(orgs: Organization[]): TreeNode[] {
  const nodes = new Map(orgs.map((o) => [o.id, { id: o.id, label: `${o.name} (${o.prefix})`, org: o, children: [] as TreeNode[] }]));
  const roots: TreeNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.org.parentId ? nodes.get(node.org.parentId) : undefined;
    (parent ? parent.children : roots).push(node);
  }
  return roots;
}

export async function employees(organizationId: string): Promise<Employee[]> {
  const data = await gql<{ employees: Employee[] }>(
    "query($o: ID) { employees(organizationId: $o, includeSubOrganizations: false) { id login extension name phone organizationId roleIds } }",
    { o: organizationId },
  );
  return data.employees;
}

export async function roles(): Promise<Role[]> {
  return (await gql<{ roles: Role[] }>("{ roles { id name departmentIds actions } }")).roles;
}

type Saved = { __typename: string } | UserError;

/** Create (no id) or update one of organisation, employee, role, device; a UserError comes back as is. */
export async function save(kind: "Organization" | "Employee" | "Role" | "Device", id: string | null, input: object): Promise<UserError | null> {
  const what = `${kind}Input`;
  const fields = `__typename ${USER_ERROR}`;
  const data = id
    ? await gql<{ r: Saved }>(`mutation($id: ID!, $i: ${what}!) { r: update${kind}(id: $id, input: $i) { ${fields} } }`, { id, i: input })
    : await gql<{ r: Saved }>(`mutation($i: ${what}!) { r: create${kind}(input: $i) { ${fields} } }`, { i: input });
  return data.r.__typename === "UserError" ? (data.r as UserError) : null;
}

export async function remove(kind: "Organization" | "Employee" | "Role", id: string): Promise<UserError | null> {
  const data = await gql<{ r: Saved }>(
    `mutation($id: ID!) { r: delete${kind}(id: $id) { __typename ${USER_ERROR} } }`,
    { id },
  );
  return data.r.__typename === "UserError" ? (data.r as UserError) : null;
}
