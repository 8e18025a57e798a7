import type { OperationContext, OperationHandler } from './operation-context.js';
import { readPool } from './pool-operations.js';
import { PRINTABLE_PATTERN, RequestValidator } from './request-validator.js';
import type { StringConstraints } from './request-validator.js';
import { StoredGroup } from './stored-group.js';
import type { GroupProperties } from './stored-group.js';
import type { StoredUser } from './stored-user.js';
import { readTarget, requireUser } from './user-operations.js';
import type { UserPool } from './user-pool.js';

/** GroupName as Cognito's API model constrains it: 1–128 letters, marks, symbols, digits or punctuation (no spaces). */
export const GROUP_NAME: StringConstraints = { required: true, min: 1, max: 128, pattern: PRINTABLE_PATTERN };
/** Pattern of `RoleArn` in Cognito's API model. */
const ROLE_ARN_PATTERN = String.raw`arn:[\w+=/,.@-]+:[\w+=/,.@-]+:([\w+=/,.@-]*)?:[0-9]+:[\w+=/,.@-]+(:[\w+=/,.@-]+)?(:[\w+=/,.@-]+)?`;

interface NamedGroup {
  readonly pool: UserPool;
  readonly name: string;
}

/** Reads GroupName and UserPoolId into `v`, reports the validation errors together, then finds the pool. */
function readGroupTarget(v: RequestValidator, context: OperationContext): NamedGroup {
  const name = v.string('GroupName', GROUP_NAME);
  return { pool: readPool(v, context), name: name as string };
}

/** Reads the optional Description, RoleArn and Precedence; absent ones are undefined. */
function readProperties(v: RequestValidator): Partial<GroupProperties> {
  const description = v.string('Description', { max: 2048 });
  const precedence = v.integer('Precedence', { min: 0, max: 2_147_483_647 });
  const roleArn = v.string('RoleArn', { min: 20, max: 2048, pattern: ROLE_ARN_PATTERN });
  return {
    ...(description === undefined ? {} : { description }),
    ...(precedence === undefined ? {} : { precedence }),
    ...(roleArn === undefined ? {} : { roleArn }),
  };
}

const createGroup: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const properties = readProperties(v);
  const { pool, name } = readGroupTarget(v, context);
  const { description = null, roleArn = null, precedence = null } = properties;
  const group = new StoredGroup(name, description, roleArn, precedence, context.nowMs, context.nowMs);
  pool.groups.add(group);
  context.writes.wrote(pool.id, true);
  return { Group: group.toWire(pool.id) };
};

const getGroup: OperationHandler = (body, context) => {
  const { pool, name } = readGroupTarget(new RequestValidator(body), context);
  return { Group: pool.groups.require(name).toWire(pool.id) };
};

// Properties left out of the request keep their values ("updates any of the properties"). The last
// modified date moves even when nothing changes, as for users (see docs/emulator.md).
const updateGroup: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const properties = readProperties(v);
  const { pool, name } = readGroupTarget(v, context);
  const group = pool.groups.require(name);
  const changed = (Object.keys(properties) as (keyof GroupProperties)[]).some((key) => group[key] !== properties[key]);
  Object.assign(group, properties);
  group.modifiedMs = context.nowMs;
  context.writes.wrote(pool.id, changed);
  return { Group: group.toWire(pool.id) };
};

const deleteGroup: OperationHandler = (body, context) => {
  const { pool, name } = readGroupTarget(new RequestValidator(body), context);
  pool.groups.require(name);
  pool.groups.delete(name);
  context.writes.wrote(pool.id, true);
  return {};
};

/**
 * AdminAddUserToGroup / AdminRemoveUserFromGroup: the group is looked up before the user. Both
 * succeed when there is nothing to do (adding a member, removing a non-member), as on AWS; `change`
 * says whether the membership changed.
 */
function membership(change: (pool: UserPool, group: StoredGroup, user: StoredUser) => boolean): OperationHandler {
  return (body, context) => {
    const v = new RequestValidator(body);
    const name = v.string('GroupName', GROUP_NAME) as string;
    const target = readTarget(v, context);
    const group = target.pool.groups.require(name);
    context.writes.wrote(target.pool.id, change(target.pool, group, requireUser(target)));
    return {};
  };
}

/** The group operations that create, read, change and delete groups and memberships, by operation name. */
export const GROUP_OPERATIONS: Readonly<Record<string, OperationHandler>> = {
  CreateGroup: createGroup,
  GetGroup: getGroup,
  UpdateGroup: updateGroup,
  DeleteGroup: deleteGroup,
  AdminAddUserToGroup: membership((pool, group, user) => pool.groups.addMember(group, user)),
  AdminRemoveUserFromGroup: membership((pool, group, user) => pool.groups.removeMember(group, user)),
};
