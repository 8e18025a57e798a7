import { CognitoServiceError } from './cognito-error.js';
import type { OperationContext, OperationHandler } from './operation-context.js';
import { readPool } from './pool-operations.js';
import { PRINTABLE_PATTERN, RequestValidator } from './request-validator.js';
import { internAttributeName, StoredUser } from './stored-user.js';
import type { UserPool } from './user-pool.js';
import { randomSub } from './user-seeder.js';

/** A user named in a request, and its pool. */
export interface Target {
  readonly pool: UserPool;
  readonly username: string;
}

/**
 * Reads UserPoolId and Username into `v`, throws every validation error collected so far (so they
 * are reported together, as AWS does), then finds the pool.
 */
export function readTarget(v: RequestValidator, context: OperationContext): Target {
  const username = v.string('Username', { required: true, min: 1, max: 128, pattern: PRINTABLE_PATTERN });
  return { pool: readPool(v, context), username: username as string };
}

/** The named user; UserNotFoundException as Cognito words it when there is none. */
export function requireUser(target: Target): StoredUser {
  const user = target.pool.findByUsername(target.username);
  if (user === undefined) throw CognitoServiceError.userNotFound();
  return user;
}

function rejectSub(attributes: readonly { Name: string }[]): void {
  if (attributes.some((a) => a.Name === 'sub')) {
    throw CognitoServiceError.invalidParameter('Invalid user attributes: sub: Attribute cannot be updated.');
  }
}

const adminCreateUser: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const attributes = v.attributeList('UserAttributes') ?? [];
  const action = v.string('MessageAction', { oneOf: ['RESEND', 'SUPPRESS'] });
  const target = readTarget(v, context);
  const existing = target.pool.findByUsername(target.username);
  if (action === 'RESEND') {
    if (existing === undefined) throw CognitoServiceError.userNotFound();
    return { User: existing.toWire() };
  }
  if (existing !== undefined) throw CognitoServiceError.usernameExists();
  rejectSub(attributes);

  let sub = randomSub(context.store.random);
  while (target.pool.hasSub(sub)) sub = randomSub(context.store.random);
  const flat: string[] = [];
  const user = new StoredUser(sub, target.username, true, 'FORCE_CHANGE_PASSWORD', context.nowMs, context.nowMs, flat, null);
  for (const { Name, Value } of attributes) user.setAttribute(internAttributeName(Name), Value);
  target.pool.add(user);
  return { User: user.toWire() };
};

const adminGetUser: OperationHandler = (body, context) => {
  const user = requireUser(readTarget(new RequestValidator(body), context));
  const wire = user.toWire();
  const response: Record<string, unknown> = {
    Username: wire.Username,
    UserAttributes: wire.Attributes,
    UserCreateDate: wire.UserCreateDate,
    UserLastModifiedDate: wire.UserLastModifiedDate,
    Enabled: wire.Enabled,
    UserStatus: wire.UserStatus,
  };
  if (wire.MFAOptions !== undefined) response.MFAOptions = wire.MFAOptions;
  return response;
};

const adminDeleteUser: OperationHandler = (body, context) => {
  const target = readTarget(new RequestValidator(body), context);
  if (target.pool.remove(target.username) === undefined) throw CognitoServiceError.userNotFound();
  return {};
};

function setEnabled(enabled: boolean): OperationHandler {
  return (body, context) => {
    const user = requireUser(readTarget(new RequestValidator(body), context));
    user.enabled = enabled;
    user.modifiedMs = context.nowMs;
    return {};
  };
}

const adminUpdateUserAttributes: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const attributes = v.attributeList('UserAttributes', true);
  const target = readTarget(v, context);
  const user = requireUser(target);
  rejectSub(attributes ?? []);
  for (const { Name, Value } of attributes ?? []) user.setAttribute(Name, Value);
  user.modifiedMs = context.nowMs;
  return {};
};

const adminDeleteUserAttributes: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const names = v.stringList('UserAttributeNames', { required: true, min: 1, max: 32, pattern: PRINTABLE_PATTERN });
  const target = readTarget(v, context);
  const user = requireUser(target);
  rejectSub((names ?? []).map((Name) => ({ Name })));
  for (const name of names ?? []) user.deleteAttribute(name);
  user.modifiedMs = context.nowMs;
  return {};
};

/** The Admin* user operations, by operation name. */
export const USER_OPERATIONS: Readonly<Record<string, OperationHandler>> = {
  AdminCreateUser: adminCreateUser,
  AdminGetUser: adminGetUser,
  AdminDeleteUser: adminDeleteUser,
  AdminDisableUser: setEnabled(false),
  AdminEnableUser: setEnabled(true),
  AdminUpdateUserAttributes: adminUpdateUserAttributes,
  AdminDeleteUserAttributes: adminDeleteUserAttributes,
};
