import { listUsers, parseListUsersRequest } from './list-users.js';
import type { OperationContext, OperationHandler } from './operation-context.js';
import type { ResumeContext } from './pagination-token.js';
import { bindingOf, resumeAfter } from './pagination-token.js';
import { CognitoServiceError } from './cognito-error.js';
import { NON_BLANK_PATTERN, POOL_ID_PATTERN, POOL_NAME_PATTERN, PRINTABLE_PATTERN, RequestValidator } from './request-validator.js';
import type { AliasAttribute, UserPool } from './user-pool.js';
import { customAttributeName, DEFAULT_PASSWORD_POLICY, isStandardAttribute, STANDARD_ATTRIBUTES, UserPoolSchema } from './user-pool-schema.js';
import type { AttributeDataType, CustomAttribute, PasswordPolicy } from './user-pool-schema.js';

/**
 * The pool's `SchemaAttributes`: the standard attributes, then its custom ones (`custom:…`, as
 * Cognito names them there): those declared, with their type and mutability, and any other a user
 * of the pool holds (a pool without a declared schema learns its custom attributes from its users).
 */
function schemaAttributes(pool: UserPool): Record<string, unknown>[] {
  const declared = new Map(pool.schema.declared.map((attribute) => [attribute.name, attribute]));
  const custom = new Set<string>(declared.keys());
  for (const user of pool.users) {
    const list = user.attributes;
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i];
      if (name !== undefined && name.startsWith('custom:')) custom.add(name);
    }
  }
  return [
    ...STANDARD_ATTRIBUTES.map(([name, type, mutable]) => ({ Name: name, AttributeDataType: type, DeveloperOnlyAttribute: false, Mutable: mutable, Required: false })),
    ...[...custom].sort().map((name) => {
      const definition = declared.get(name);
      return { Name: name, AttributeDataType: definition?.type ?? 'String', DeveloperOnlyAttribute: false, Mutable: definition?.mutable ?? true, Required: false };
    }),
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

const ATTRIBUTE_DATA_TYPES = ['String', 'Number', 'DateTime', 'Boolean'] as const;
const ALIAS_ATTRIBUTES = ['phone_number', 'email', 'preferred_username'] as const;

/** A SchemaAttributeType list: the custom attributes to declare (standard names are the pool's anyway). */
function readSchema(v: RequestValidator, member: string): CustomAttribute[] {
  return (v.structureList(member) ?? []).flatMap((s): CustomAttribute[] => {
    const name = s.string('Name', { required: true, min: 1, max: 20, pattern: PRINTABLE_PATTERN });
    const type = s.string('AttributeDataType', { oneOf: ATTRIBUTE_DATA_TYPES }) as AttributeDataType | undefined;
    const mutable = s.boolean('Mutable');
    if (name === undefined || isStandardAttribute(name)) return [];
    return [{ name: customAttributeName(name), ...(type === undefined ? {} : { type }), ...(mutable === undefined ? {} : { mutable }) }];
  });
}

/** Policies.PasswordPolicy; members left out are AWS's defaults. */
function readPasswordPolicy(v: RequestValidator): PasswordPolicy {
  const p = v.structure('Policies')?.structure('PasswordPolicy');
  const minimumLength = p?.integer('MinimumLength', { min: 6, max: 99 });
  const flag = (member: string, fallback: boolean): boolean => p?.boolean(member) ?? fallback;
  return {
    minimumLength: minimumLength ?? DEFAULT_PASSWORD_POLICY.minimumLength,
    requireUppercase: flag('RequireUppercase', p === undefined),
    requireLowercase: flag('RequireLowercase', p === undefined),
    requireNumbers: flag('RequireNumbers', p === undefined),
    requireSymbols: flag('RequireSymbols', p === undefined),
  };
}

/**
 * CreateUserPool with `PoolName`, and of the pool's settings the ones the emulator uses: `Schema`
 * (custom attributes: a pool created here always has a declared schema), `Policies.PasswordPolicy`
 * and `AliasAttributes`. Other settings are accepted and ignored.
 */
const createUserPool: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const name = v.string('PoolName', { required: true, min: 1, max: 128, pattern: POOL_NAME_PATTERN });
  const schema = readSchema(v, 'Schema');
  const passwordPolicy = readPasswordPolicy(v);
  const aliases = v.stringList('AliasAttributes', { oneOf: ALIAS_ATTRIBUTES }) as AliasAttribute[] | undefined;
  v.done();
  const pool = context.store.create(name as string, context.nowMs, undefined, context.account);
  pool.schema = new UserPoolSchema(schema);
  pool.passwordPolicy = passwordPolicy;
  pool.aliasAttributes = aliases ?? [];
  context.writes.wrote(pool.id, true);
  return { UserPool: describe(pool, context.store.region) };
};

/** AddCustomAttributes: declares more custom attributes (the pool's schema counts as declared from then on). */
const addCustomAttributes: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const attributes = readSchema(v, 'CustomAttributes');
  if (body.CustomAttributes === undefined || body.CustomAttributes === null) v.structure('CustomAttributes', true);
  const pool = readPool(v, context);
  for (const attribute of attributes) {
    if (pool.schema.definition(attribute.name) !== undefined) {
      throw CognitoServiceError.invalidParameter(`Existing attribute already has name ${attribute.name}.`);
    }
  }
  for (const attribute of attributes) pool.schema.declare(attribute);
  pool.modifiedMs = context.nowMs;
  context.writes.wrote(pool.id, attributes.length > 0);
  return {};
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
  AddCustomAttributes: addCustomAttributes,
  DescribeUserPool: describeUserPool,
  ListUserPools: listUserPools,
  ListUsers: listUsersOperation,
};
