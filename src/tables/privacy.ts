import { createHash, createHmac } from 'node:crypto';

/**
 * What a run keeps out of its records, applied as each record is made, before anything is written
 * or logged: excluded attributes are dropped, pseudonymized fields (`username` or an attribute)
 * become the lowercase hex HMAC-SHA256 of their value under the run's key, the same in every table
 * and every run that has the same key. `sub` is never touched: it is the key every table joins on.
 */
export interface RecordPrivacy {
  readonly exclude: ReadonlySet<string>;
  readonly pseudonymize: ReadonlySet<string>;
  /** The HMAC key; present whenever `pseudonymize` is not empty. */
  readonly key: Buffer | undefined;
}

/** No exclusions, no pseudonyms. */
export const NO_PRIVACY: RecordPrivacy = { exclude: new Set(), pseudonymize: new Set(), key: undefined };

/** The pseudonym of a value: lowercase hex HMAC-SHA256 under `key`. */
export function pseudonym(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

/**
 * A short public name of a key, for the manifest and for workers to check they share it: 16 hex
 * characters of a SHA-256 of the key under a label of its own (not the HMAC of anything a record holds).
 */
export function keyIdOf(key: string): string {
  return createHash('sha256').update('cognito-export pseudonymization key id\u0000').update(key, 'utf8').digest('hex').slice(0, 16);
}

/** A field value as the run writes it. */
export function privateValue(privacy: RecordPrivacy, field: string, value: string): string {
  if (!privacy.pseudonymize.has(field)) return value;
  if (!privacy.key) throw new Error(`${field} is to be pseudonymized, but there is no PSEUDONYMIZATION_KEY`);
  return pseudonym(privacy.key, value);
}

const FIELD = /^[A-Za-z0-9_:.-]{1,128}$/;

/**
 * Why two lists cannot be used together, or undefined: a bad name, `sub`, or a field both excluded
 * and pseudonymized. The message names the field and what to do.
 */
export function privacyListProblem(exclude: readonly string[], pseudonymize: readonly string[]): string | undefined {
  for (const [list, names] of [['exclude attributes', exclude], ['pseudonymize', pseudonymize]] as const) {
    for (const name of names) {
      if (!FIELD.test(name)) return `${list}: ${JSON.stringify(name)} is not an attribute name: expected a comma-separated list such as email,phone_number`;
      if (name === 'sub') return `${list}: sub cannot be excluded or pseudonymized: it is the key every table joins on`;
    }
  }
  if (exclude.includes('username')) return 'exclude attributes: username is not an attribute; pseudonymize it instead';
  const both = pseudonymize.find((name) => exclude.includes(name));
  if (both !== undefined) return `${both} is both excluded and pseudonymized: choose one`;
  return undefined;
}
