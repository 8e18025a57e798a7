import { createHash, createHmac } from 'node:crypto';

/**
 * What a run keeps out of its records, applied as each record is made, before anything is written
 * or logged: excluded attributes are dropped, pseudonymized fields (`username` or an attribute)
 * become the lowercase hex HMAC-SHA256 of their field and value under the run's key (see
 * {@link pseudonym}), the same in every table and every run that has the same key. `sub` is never
 * touched: it is the key every table joins on.
 */
export interface RecordPrivacy {
  readonly exclude: ReadonlySet<string>;
  readonly pseudonymize: ReadonlySet<string>;
  /** The HMAC key; present whenever `pseudonymize` is not empty. */
  readonly key: Buffer | undefined;
}

/** No exclusions, no pseudonyms. */
export const NO_PRIVACY: RecordPrivacy = { exclude: new Set(), pseudonymize: new Set(), key: undefined };

/**
 * Which way values are hashed; part of every key id, so snapshots hashed one way are never diffed
 * against snapshots hashed another (the change plan compares key ids). v1 hashed the bare value.
 */
export const PSEUDONYM_SCHEME = 'v2';

/**
 * The pseudonym of one field's value: lowercase hex HMAC-SHA256 under `key` of the scheme, the
 * field's name and the value, NUL-separated (a field name holds no NUL). Domain-separated by field:
 * the same value hashes differently as `email` and as `username`, so a hash learnt from one field
 * (say a username that is an email) says nothing about another. Joins still work: a field is hashed
 * the same in every table (`users.username`, `group_memberships.username`, the change tables) and
 * every run under the same key.
 */
export function pseudonym(key: Buffer, field: string, value: string): string {
  const hmac = createHmac('sha256', key);
  return hmac.update(`${PSEUDONYM_SCHEME}\u0000${field}\u0000`, 'utf8').update(value, 'utf8').digest('hex');
}

/**
 * A short public name of a key and of the hashing scheme, for the manifest and for workers to check
 * they share it: `v2-` and 16 hex characters of a SHA-256 of the key under a label of its own (not
 * the HMAC of anything a record holds). The key is 32+ random bytes (checked at start), so the id
 * is no oracle for guessing it.
 */
export function keyIdOf(key: string): string {
  const digest = createHash('sha256').update(`cognito-export pseudonymization key id ${PSEUDONYM_SCHEME}\u0000`).update(key, 'utf8').digest('hex');
  return `${PSEUDONYM_SCHEME}-${digest.slice(0, 16)}`;
}

/** A field value as the run writes it. */
export function privateValue(privacy: RecordPrivacy, field: string, value: string): string {
  if (!privacy.pseudonymize.has(field)) return value;
  if (!privacy.key) throw new Error(`${field} is to be pseudonymized, but there is no PSEUDONYMIZATION_KEY`);
  return pseudonym(privacy.key, field, value);
}

const FIELD = /^[A-Za-z0-9_:.-]{1,128}$/;

/**
 * Why two lists cannot be used together, or undefined: a bad name, `sub`, a field both excluded
 * and pseudonymized, or a hashed `username` beside the `identities` it can be read back from.
 * `kept` is the run's attribute selection (null: all). The message names the field and what to do.
 */
export function privacyListProblem(exclude: readonly string[], pseudonymize: readonly string[], kept: readonly string[] | null = null): string | undefined {
  for (const [list, names] of [['exclude attributes', exclude], ['pseudonymize', pseudonymize]] as const) {
    for (const name of names) {
      if (!FIELD.test(name)) return `${list}: ${JSON.stringify(name)} is not an attribute name: expected a comma-separated list such as email,phone_number`;
      if (name === 'sub') return `${list}: sub cannot be excluded or pseudonymized: it is the key every table joins on`;
    }
  }
  if (exclude.includes('username')) return 'exclude attributes: username is not an attribute; pseudonymize it instead';
  const both = pseudonymize.find((name) => exclude.includes(name));
  if (both !== undefined) return `${both} is both excluded and pseudonymized: choose one`;
  // A federated user's username is `<provider>_<provider's user id>`, and `identities` holds that
  // provider and user id in the clear: kept, it reverses the hash.
  const identitiesKept = (kept === null || kept.includes('identities')) && !exclude.includes('identities') && !pseudonymize.includes('identities');
  if (pseudonymize.includes('username') && identitiesKept) {
    return 'username is pseudonymized but identities is exported, which spells out a federated username in the clear: exclude identities (or pseudonymize it too)';
  }
  return undefined;
}

/**
 * Why a server-side filter cannot be used with these lists, or undefined: a filter on a field that
 * is pseudonymized or excluded would keep the very value the run hides, in the clear, in the run's
 * spec (Redis, the job data) and in the manifest. The message names the field, never the value.
 */
export function filterPrivacyProblem(attribute: string, exclude: readonly string[], pseudonymize: readonly string[]): string | undefined {
  const how = pseudonymize.includes(attribute) ? 'pseudonymized' : exclude.includes(attribute) ? 'excluded' : undefined;
  if (how === undefined) return undefined;
  return `a filter on ${attribute}, which is ${how}, would keep its value in the clear in the manifest and in Redis: drop the filter or filter on another field`;
}
