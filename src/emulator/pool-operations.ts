import { listUsers, parseListUsersRequest } from './list-users.js';
import type { OperationContext, OperationHandler } from './operation-context.js';
import type { ResumeContext } from './pagination-token.js';
import { bindingOf, resumeAfter } from './pagination-token.js';
import { NON_BLANK_PATTERN, POOL_ID_PATTERN, POOL_NAME_PATTERN, RequestValidator } from './request-validator.js';
import type { UserPool } from './user-pool.js';

/** The attributes every Cognito user pool's schema has (DescribeUserPool lists them for any pool). */
const STANDARD_ATTRIBUTES: readonly (readonly [name: string, type: string, mutable: boolean])[] = [
  ['sub', 'String', false],
  ['name', 'String', true],
  ['given_name', 'String', true],
  ['family_name', 'String', true],
  ['middle_name', 'String', true],
  ['nickname', 'String', true],
  ['preferred_username', 'String', true],
  ['profile', 'String', true],
  ['picture', 'String', true],
  ['website', 'String', true],
  ['email', 'String', true],
  ['email_verified', 'Boolean', true],
  ['gender', 'String', true],
  ['birthdate', 'String', true],
  ['zoneinfo', 'String', true],
  ['locale', 'String', true],
  ['phone_number', 'String', true],
  ['phone_number_verified', 'Boolean', true],
  ['address', 'String', true],
  ['updated_at', 'Number', true],
  ['identities', 'String', true],
];

/**
 * The pool's `SchemaAttributes`: the standard attributes, then its custom ones (`custom:…`, as
 * Cognito names them there). The emulator keeps no schema: a custom attribute is in it once a user
 * of the pool holds it.
 */
function schemaAttributes(pool: UserPool): Record<string, unknown>[] {
  const custom = new Set<string>();
  for (const user of pool.users) {
    const list = user.attributes;
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i];
      if (name !== undefined && name.startsWith('custom:')) custom.add(name);
    }
  }
  return [
    ...STANDARD_ATTRIBUTES.map(([name, type, mutable]) => ({ Name: name, AttributeDataType: type, DeveloperOnlyAttribute: false, Mutable: mutable, Required: false })),
    ...[...custom].sort().map((name) => ({ Name: name, AttributeDataType: 'String', DeveloperOnlyAttribute: false, Mutable: true, Required: false })),
  ];
}

function describe(pool: UserPool, region: string): Record<string, unknown> {
  return {
    Id: pool.id,
    Name: pool.name,
    Arn: `arn:aws:cognito-idp:${region}:${pool.account}:userpool/${pool.id}`,
    CreationDate: pool.createdMs / 1000,
    LastModifiedDate: pool.modifiedMs / 1000,
    EstimatedNumberOfUsers: pool.size,
    LambdaConfig: {},
    MfaConfiguration: 'OFF',
    DeletionProtection: 'INACTIVE',
    UsernameConfiguration: { CaseSensitive: true },
    SchemaAttributes: schemaAttributes(pool),
  };
}

const createUserPool: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const name = v.string('PoolName', { required: true, min: 1, max: 128, pattern: POOL_NAME_PATTERN });
  v.done();
  const pool = context.store.create(name as string, context.nowMs, undefined, context.account);
  return { UserPool: describe(pool, context.store.region) };
};

const describeUserPool: OperationHandler = (body, context) => {
  const pool = requirePool(body, context);
  return { UserPool: describe(pool, context.store.region) };
};

const listUserPools: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const nextToken = v.string('NextToken', { min: 1, max: 131_072, pattern: NON_BLANK_PATTERN });
  const maxResults = v.integer('MaxResults', { required: true, min: 1, max: 60 });
  v.done();
  const binding = bindingOf(['ListUserPools', context.account]);
  const after = resumeAfter(nextToken ?? null, binding, resumeContext(context));
  const remaining = context.store.list(context.account).filter((pool) => pool.id > after);
  const page = remaining.slice(0, maxResults);
  const response: Record<string, unknown> = {
    UserPools: page.map((pool) => ({
      Id: pool.id,
      Name: pool.name,
      LambdaConfig: {},
      LastModifiedDate: pool.modifiedMs / 1000,
      CreationDate: pool.createdMs / 1000,
    })),
  };
  const last = page.at(-1);
  if (remaining.length > page.length && last !== undefined) {
    response.NextToken = context.codec.encode({ binding, after: last.id, issuedAtMs: context.nowMs });
  }
  return response;
};

const listUsersOperation: OperationHandler = (body, context) => {
  const request = parseListUsersRequest(body);
  const pool = context.store.require(request.userPoolId, context.account);
  return listUsers(pool, request, { ...resumeContext(context), shape: context.faults.pageShape(request.limit) });
};

/** What a listing needs to check a presented token: the codec, the clock and the token TTL fault. */
export function resumeContext(context: OperationContext): ResumeContext {
  return { codec: context.codec, nowMs: context.nowMs, tokenTtlSeconds: context.faults.faults.tokenTtlSeconds, requestId: context.requestId };
}

/**
 * Reads `UserPoolId` into `v`, throws every validation error collected so far (so they are reported
 * together, as AWS does), then returns the pool as the caller's account sees it.
 */
export function readPool(v: RequestValidator, context: OperationContext): UserPool {
  const poolId = v.string('UserPoolId', { required: true, min: 1, max: 55, pattern: POOL_ID_PATTERN });
  v.done();
  return context.store.require(poolId as string, context.account);
}

/** Validates a body holding only `UserPoolId` and returns its pool, or throws ResourceNotFoundException. */
export function requirePool(body: Record<string, unknown>, context: OperationContext): UserPool {
  return readPool(new RequestValidator(body), context);
}

/** Pool-level operations and the listings, by operation name. */
export const POOL_OPERATIONS: Readonly<Record<string, OperationHandler>> = {
  CreateUserPool: createUserPool,
  DescribeUserPool: describeUserPool,
  ListUserPools: listUserPools,
  ListUsers: listUsersOperation,
};
