import { CognitoServiceError } from './cognito-error.js';
import type { OperationContext, OperationHandler } from './operation-context.js';
import { readPool } from './pool-operations.js';
import { NON_BLANK_PATTERN, PRINTABLE_PATTERN, RequestValidator } from './request-validator.js';
import { internAttributeName, StoredUser } from './stored-user.js';
import type { AliasAttribute, UserPool } from './user-pool.js';
import { passwordProblem, unknownAttribute } from './user-pool-schema.js';
import { randomSub } from './user-seeder.js';
import type { DeliveryMedium } from './write-recorder.js';

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

/**
 * Checks attribute names against the pool's schema before a write: an attribute the schema does not
 * have is refused as Cognito refuses it, and so is changing an immutable custom attribute of an
 * existing user. A pool without a declared schema lets updates add any custom attribute (and
 * learns it), as the emulator always did.
 */
export function checkSchema(pool: UserPool, names: readonly string[], existing: StoredUser | null): void {
  for (const name of names) {
    if (existing !== null && !pool.schema.isDeclared) {
      pool.schema.learn(name);
      continue;
    }
    if (!pool.schema.knows(name, () => pool.users)) throw unknownAttribute(name);
    if (existing !== null && pool.schema.definition(name)?.mutable === false) {
      throw CognitoServiceError.invalidParameter(`Invalid user attributes: ${name}: Attribute cannot be updated.`);
    }
  }
}

/** The verification attribute that makes an email or phone alias count, as Cognito pairs them. */
const VERIFIED_BY: Readonly<Record<AliasAttribute, string | null>> = { email: 'email_verified', phone_number: 'phone_number_verified', preferred_username: null };

/**
 * The users whose alias the new values would take: another user holding the same verified email or
 * phone number (or the same preferred_username) when the pool signs in by that alias. Without
 * `force`, AliasExistsException; with it (ForceAliasCreation), the callers move the alias.
 */
function aliasHolders(pool: UserPool, values: ReadonlyMap<string, string>, self: StoredUser | null, force: boolean): [StoredUser, AliasAttribute][] {
  const moves: [StoredUser, AliasAttribute][] = [];
  for (const alias of pool.aliasAttributes) {
    const value = values.get(alias);
    const verifiedBy = VERIFIED_BY[alias];
    if (value === undefined || (verifiedBy !== null && (values.get(verifiedBy) ?? self?.attribute(verifiedBy)) !== 'true')) continue;
    for (const other of pool.users) {
      if (other === self || other.attribute(alias) !== value) continue;
      if (verifiedBy !== null && other.attribute(verifiedBy) !== 'true') continue;
      if (!force || verifiedBy === null) {
        throw new CognitoServiceError('AliasExistsException', `An account with the given ${alias === 'phone_number' ? 'phone_number' : alias} already exists.`);
      }
      moves.push([other, alias]);
    }
  }
  return moves;
}

const DELIVERY_MEDIA = ['SMS', 'EMAIL'] as const;

/**
 * The media an invitation goes out by. Asked for explicitly, each needs its attribute (Cognito's
 * `No email provided but desired delivery medium was Email`); by default SMS when the user has a
 * phone number, else email when it has an address, else none.
 */
function invitationMedia(values: (name: string) => string | undefined, asked: readonly string[] | undefined): DeliveryMedium[] {
  if (asked === undefined || asked.length === 0) {
    if (values('phone_number') !== undefined) return ['SMS'];
    return values('email') !== undefined ? ['EMAIL'] : [];
  }
  const media = [...new Set(asked)] as DeliveryMedium[];
  if (media.includes('EMAIL') && values('email') === undefined) {
    throw CognitoServiceError.invalidParameter('No email provided but desired delivery medium was Email');
  }
  if (media.includes('SMS') && values('phone_number') === undefined) {
    throw CognitoServiceError.invalidParameter('No phone_number provided but desired delivery medium was Sms');
  }
  return media;
}

const adminCreateUser: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const attributes = v.attributeList('UserAttributes') ?? [];
  v.attributeList('ValidationData'); // checked, then unused: there are no Lambda triggers
  const action = v.string('MessageAction', { oneOf: ['RESEND', 'SUPPRESS'] });
  const password = v.string('TemporaryPassword', { max: 256, pattern: NON_BLANK_PATTERN, sensitive: true });
  const asked = v.stringList('DesiredDeliveryMediums', { oneOf: DELIVERY_MEDIA });
  const forceAlias = v.boolean('ForceAliasCreation') ?? false;
  const target = readTarget(v, context);
  const { pool } = target;
  const existing = pool.findByUsername(target.username);
  if (action === 'RESEND') {
    if (existing === undefined) throw CognitoServiceError.userNotFound();
    for (const medium of invitationMedia((name) => existing.attribute(name), asked)) context.writes.message(pool.id, medium);
    context.writes.wrote(pool.id, false);
    return { User: existing.toWire() };
  }
  if (existing !== undefined) throw CognitoServiceError.usernameExists();
  rejectSub(attributes);
  checkSchema(pool, attributes.map((a) => a.Name), null);
  if (password !== undefined) {
    const problem = passwordProblem(password, pool.passwordPolicy);
    if (problem !== null) throw problem;
  }
  const values = new Map(attributes.map(({ Name, Value }) => [Name, Value]));
  const moves = aliasHolders(pool, values, null, forceAlias);
  const media = action === 'SUPPRESS' ? [] : invitationMedia((name) => values.get(name), asked);

  let sub = randomSub(context.store.random);
  while (pool.hasSub(sub)) sub = randomSub(context.store.random);
  const user = new StoredUser(sub, target.username, true, 'FORCE_CHANGE_PASSWORD', context.nowMs, context.nowMs, [], null);
  for (const [name, value] of values) user.setAttribute(internAttributeName(name), value);
  moveAliases(moves, context);
  pool.add(user);
  for (const medium of media) context.writes.message(pool.id, medium);
  context.writes.wrote(pool.id, true);
  return { User: user.toWire() };
};

/** ForceAliasCreation: the previous holder keeps the value, unverified, and can no longer sign in with it. */
function moveAliases(moves: readonly [StoredUser, AliasAttribute][], context: OperationContext): void {
  for (const [other, alias] of moves) {
    const verifiedBy = VERIFIED_BY[alias];
    if (verifiedBy === null) continue;
    other.setAttribute(verifiedBy, 'false');
    other.modifiedMs = context.nowMs;
  }
}

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
  context.writes.wrote(target.pool.id, true);
  return {};
};

// The last modified date moves on every successful call, even one that changes nothing: AWS does not
// document otherwise, and a restore must not count on a no-op keeping it (see docs/emulator.md).
function setEnabled(enabled: boolean): OperationHandler {
  return (body, context) => {
    const target = readTarget(new RequestValidator(body), context);
    const user = requireUser(target);
    const changed = user.enabled !== enabled;
    user.enabled = enabled;
    user.modifiedMs = context.nowMs;
    context.writes.wrote(target.pool.id, changed);
    return {};
  };
}

const adminUpdateUserAttributes: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const attributes = v.attributeList('UserAttributes', true) ?? [];
  const target = readTarget(v, context);
  const user = requireUser(target);
  rejectSub(attributes);
  checkSchema(target.pool, attributes.map((a) => a.Name), user);
  aliasHolders(target.pool, new Map(attributes.map(({ Name, Value }) => [Name, Value])), user, false);
  let changed = false;
  for (const { Name, Value } of attributes) {
    if (user.attribute(Name) !== Value) changed = true;
    user.setAttribute(Name, Value);
  }
  user.modifiedMs = context.nowMs;
  context.writes.wrote(target.pool.id, changed);
  return {};
};

const adminDeleteUserAttributes: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const names = v.stringList('UserAttributeNames', { required: true, min: 1, max: 32, pattern: PRINTABLE_PATTERN });
  const target = readTarget(v, context);
  const user = requireUser(target);
  rejectSub((names ?? []).map((Name) => ({ Name })));
  let changed = false;
  for (const name of names ?? []) changed = user.deleteAttribute(name) || changed;
  user.modifiedMs = context.nowMs;
  context.writes.wrote(target.pool.id, changed);
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
