import { CognitoServiceError } from './cognito-error.js';
import type { OperationHandler } from './operation-context.js';
import { readPool } from './pool-operations.js';
import { PRINTABLE_PATTERN, RequestValidator } from './request-validator.js';
import type { StringConstraints } from './request-validator.js';
import type { StoredUser } from './stored-user.js';
import { requireUser } from './user-operations.js';
import type { UserPool } from './user-pool.js';

/** Cognito links at most this many external identities to one user profile. */
export const MAX_LINKED_IDENTITIES = 5;

/** The social providers, whose `providerType` is their name and which link by `Cognito_Subject` only. */
const SOCIAL_PROVIDERS = new Set(['Google', 'Facebook', 'LoginWithAmazon', 'SignInWithApple']);

/** One entry of the `identities` attribute, as Cognito writes it (a JSON array of these). */
export interface LinkedIdentity {
  userId: string;
  providerName: string;
  providerType: string;
  issuer: string | null;
  primary: boolean;
  /** Epoch milliseconds. */
  dateCreated: number;
}

/** The entries of a user's `identities` attribute (none when it has none, or it is not a JSON array). */
export function identitiesOf(user: StoredUser): LinkedIdentity[] {
  const raw = user.attribute('identities');
  if (raw === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? (parsed as LinkedIdentity[]) : [];
  } catch {
    return [];
  }
}

/**
 * The provider type an identity gets: a social provider's own name; otherwise SAML when it links by
 * a SAML attribute (only SAML providers can) and OIDC when it links by `Cognito_Subject`. The
 * emulator keeps no identity providers, so any provider name is accepted.
 */
function providerType(providerName: string, attributeName: string): string {
  if (SOCIAL_PROVIDERS.has(providerName)) return providerName;
  return attributeName === 'Cognito_Subject' ? 'OIDC' : 'SAML';
}

const PROVIDER_NAME: StringConstraints = { min: 1, max: 32, pattern: PRINTABLE_PATTERN };

interface ProviderUser {
  readonly providerName: string;
  readonly attributeName: string | undefined;
  readonly attributeValue: string;
}

function readProviderUser(v: RequestValidator, member: string): ProviderUser {
  const s = v.structure(member, true);
  const providerName = s?.string('ProviderName', { ...PROVIDER_NAME, required: true });
  const attributeName = s?.string('ProviderAttributeName');
  const attributeValue = s?.string('ProviderAttributeValue', { required: true });
  return { providerName: providerName ?? '', attributeName, attributeValue: attributeValue ?? '' };
}

/** The DestinationUser: a native user by username, or a federated one by `<ProviderName>_<user id>`. */
function destinationOf(pool: UserPool, destination: ProviderUser): StoredUser {
  const username = destination.providerName === 'Cognito' ? destination.attributeValue : `${destination.providerName}_${destination.attributeValue}`;
  return requireUser({ pool, username });
}

/**
 * AdminLinkProviderForUser: records the external identity in the destination user's `identities`
 * attribute, `{"userId","providerName","providerType","issuer":null,"primary":false,"dateCreated"}`.
 * Refused as Cognito refuses: a `Cognito` SourceUser; a social SourceUser that does not link by
 * `Cognito_Subject`; a SourceUser that has signed in already (a `<ProviderName>_<user id>` user
 * exists); a sixth identity for one user. An identity linked already (to this user or another) is
 * AliasExistsException, the emulator's choice, since AWS does not say.
 */
const adminLinkProviderForUser: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const destination = readProviderUser(v, 'DestinationUser');
  const source = readProviderUser(v, 'SourceUser');
  const pool = readPool(v, context);
  if (source.providerName === 'Cognito') {
    throw CognitoServiceError.invalidParameter(
      'Invalid SourceUser: Cognito users with a username/password may not be passed in as a SourceUser, only as a DestinationUser',
    );
  }
  const attributeName = source.attributeName ?? 'Cognito_Subject';
  if (SOCIAL_PROVIDERS.has(source.providerName) && attributeName !== 'Cognito_Subject') {
    throw CognitoServiceError.invalidParameter(`Invalid SourceUser: ProviderAttributeName must be Cognito_Subject for ${source.providerName}`);
  }
  const user = destinationOf(pool, destination);
  if (pool.findByUsername(`${source.providerName}_${source.attributeValue}`) !== undefined) {
    throw CognitoServiceError.invalidParameter('Merging is not currently supported, provide a SourceUser that has not been signed up in order to link');
  }
  if (pool.linkedUser(source.providerName, source.attributeValue) !== undefined) {
    throw new CognitoServiceError('AliasExistsException', 'The SourceUser is already linked to a user of this pool.');
  }
  const identities = identitiesOf(user);
  if (identities.filter((identity) => !identity.primary).length >= MAX_LINKED_IDENTITIES) {
    throw CognitoServiceError.limitExceeded(`A user can be linked to at most ${MAX_LINKED_IDENTITIES} external identities.`);
  }
  const immutable = pool.schema.declared.find((attribute) => !attribute.mutable && user.attribute(attribute.name) !== undefined);
  if (immutable !== undefined) {
    throw CognitoServiceError.invalidParameter(`Invalid DestinationUser: ${immutable.name} is immutable; every attribute of a DestinationUser must be mutable.`);
  }
  identities.push({
    userId: source.attributeValue,
    providerName: source.providerName,
    providerType: providerType(source.providerName, attributeName),
    issuer: null,
    primary: false,
    dateCreated: context.nowMs,
  });
  user.setAttribute('identities', JSON.stringify(identities));
  user.modifiedMs = context.nowMs;
  pool.link(source.providerName, source.attributeValue, user);
  context.writes.wrote(pool.id, true);
  return {};
};

/** Linking users to external identities, by operation name. */
export const IDENTITY_LINK_OPERATIONS: Readonly<Record<string, OperationHandler>> = {
  AdminLinkProviderForUser: adminLinkProviderForUser,
};
