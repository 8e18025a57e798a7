import { RandomSource } from './random-source.js';
import { internAttributeName, StoredUser } from './stored-user.js';
import type { MfaOption, UserStatus } from './stored-user.js';
import type { UserPool } from './user-pool.js';

/** What to seed into a pool. */
export interface SeedOptions {
  /** How many users to add, 0 to 10,000,000. */
  users: number;
  /** Same seed (and same pool contents before) → same users, byte for byte. @default 1 */
  seed?: number;
  /**
   * Fraction of subs that start with "0", to make sub-prefix shards uneven. Below 1/16 (what
   * uniform subs give anyway) it has no effect. @default 0
   */
  subSkew?: number;
  /**
   * Share of users who signed in through an external provider (username `Google_1093…`, status
   * EXTERNAL_PROVIDER, an `identities` attribute), 0 to 1. Left out, about a quarter of the users
   * are, drawn exactly as always (so existing seeds give the same users byte for byte). @default about 0.25
   */
  federatedShare?: number;
  /**
   * Share of the native (not federated) users whose status is UNCONFIRMED, 0 to 1; the others keep
   * the usual mix of CONFIRMED, FORCE_CHANGE_PASSWORD and RESET_REQUIRED. @default about 0.07
   */
  unconfirmedShare?: number;
}

/** A pool to create and seed in one go: users, then groups and memberships over those users. */
export interface PoolSeedOptions extends SeedOptions {
  /** @default 'emulated-pool' */
  name?: string;
  /** @default a fresh AWS-shaped id */
  id?: string;
  /** Groups to seed (with memberships) after the users, from the same seed. @default 0 */
  groups?: number;
  /** The groups' membership shape (see `GroupSeedOptions`). */
  bigGroupShare?: number;
  tailShare?: number;
  /** The 12-digit account that owns the pool. @default the emulator's default account */
  account?: string;
}

/** Largest seed request accepted; a guard against typos like `--users 1e9`. */
export const MAX_SEED_USERS = 10_000_000;

/** Throws a RangeError naming the option when a seed request is out of range. */
export function assertSeedOptions(options: SeedOptions): void {
  const { users, seed = 1, subSkew = 0, federatedShare = 0, unconfirmedShare = 0 } = options;
  if (!Number.isInteger(users) || users < 0 || users > MAX_SEED_USERS) {
    throw new RangeError(`Expected \`users\` to be an integer from 0 to ${MAX_SEED_USERS}, got \`${users}\``);
  }
  if (!Number.isFinite(seed)) throw new RangeError(`Expected \`seed\` to be a finite number, got \`${seed}\``);
  if (!(subSkew >= 0 && subSkew <= 1)) {
    throw new RangeError(`Expected \`subSkew\` to be a number from 0 to 1, got \`${subSkew}\``);
  }
  for (const [name, value] of [['federatedShare', federatedShare], ['unconfirmedShare', unconfirmedShare]] as const) {
    if (!(value >= 0 && value <= 1)) throw new RangeError(`Expected \`${name}\` to be a number from 0 to 1, got \`${value}\``);
  }
}

// Display name and its ASCII form (for emails and usernames). Unicode on purpose.
const GIVEN: readonly (readonly [string, string])[] = [
  ['James', 'james'], ['Mary', 'mary'], ['Wei', 'wei'], ['Aisha', 'aisha'], ['José', 'jose'],
  ['Zoë', 'zoe'], ['Łukasz', 'lukasz'], ['Søren', 'soren'], ['Ангелина', 'angelina'], ['さくら', 'sakura'],
  ['Chloé', 'chloe'], ['Björn', 'bjorn'], ['Priya', 'priya'], ['Mohammed', 'mohammed'], ['Olivia', 'olivia'],
  ['Noah', 'noah'], ['Fatma', 'fatma'], ['Kwame', 'kwame'], ['Ines', 'ines'], ['Mateo', 'mateo'],
  ['Emma', 'emma'], ['Liam', 'liam'], ['Yuki', 'yuki'], ['Siobhán', 'siobhan'], ['Oluwaseun', 'oluwaseun'],
  ['Nguyễn', 'nguyen'], ['Άρτεμις', 'artemis'], ['Daniel', 'daniel'], ['Sofia', 'sofia'], ['Amir', 'amir'],
];
const FAMILY: readonly (readonly [string, string])[] = [
  ['Smith', 'smith'], ['Johnson', 'johnson'], ["O'Brien", 'obrien'], ['Müller', 'muller'], ['García', 'garcia'],
  ['Dvořák', 'dvorak'], ['Ødegaard', 'odegaard'], ['王', 'wang'], ['Иванов', 'ivanov'], ["D'Angelo", 'dangelo'],
  ['Nakamura', 'nakamura'], ['Okafor', 'okafor'], ['Kowalski', 'kowalski'], ['Silva', 'silva'], ['Patel', 'patel'],
  ['Nguyen', 'nguyen'], ['Rossi', 'rossi'], ['Jensen', 'jensen'], ['Cohen', 'cohen'], ['Haddad', 'haddad'],
  ['van der Berg', 'vanderberg'], ['Lefèvre', 'lefevre'], ['Yılmaz', 'yilmaz'], ['Kim', 'kim'], ['Brown', 'brown'],
];
const DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example', 'corp.example.co.uk', 'test.example'];
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'tenant "quoted"', 'back\\slash'];
const NICKNAMES = ['Bobby', 'The Rock', 'Ace', 'Doc'];
const PHONE_PREFIXES = ['+1', '+1', '+1', '+44', '+49', '+81', '+33', '+61'];

// Attribute names as shared string instances.
const A_EMAIL = internAttributeName('email');
const A_EMAIL_VERIFIED = internAttributeName('email_verified');
const A_NAME = internAttributeName('name');
const A_GIVEN = internAttributeName('given_name');
const A_FAMILY = internAttributeName('family_name');
const A_PHONE = internAttributeName('phone_number');
const A_PHONE_VERIFIED = internAttributeName('phone_number_verified');
const A_PREFERRED = internAttributeName('preferred_username');
const A_TENANT = internAttributeName('custom:tenant');
const A_IDENTITIES = internAttributeName('identities');
const TRUE = 'true';
const FALSE = 'false';
const SMS_MFA: readonly MfaOption[] = Object.freeze([Object.freeze({ DeliveryMedium: 'SMS', AttributeName: 'phone_number' })]);

// Seeded dates fall in fixed windows so a seed gives the same users whatever the day.
const CREATED_FROM = Date.UTC(2019, 0, 1);
const CREATED_TO = Date.UTC(2025, 0, 1);
const MODIFIED_TO = Date.UTC(2025, 5, 1);

const HEX = '0123456789abcdef';
const subBuffer = Buffer.alloc(36);

/**
 * Copies a string built by concatenation into one flat string. V8 keeps `a + b` as a rope of small
 * nodes; a million users' worth of ropes costs far more memory than the text itself.
 */
function flat(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, 'utf8').toString('utf8');
}

function digits(rng: RandomSource, count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) out += HEX[rng.int(10)];
  return out;
}

function hexDigits(rng: RandomSource, count: number, upper = false): string {
  let out = '';
  for (let i = 0; i < count; i++) out += HEX[rng.int(16)];
  return upper ? out.toUpperCase() : out;
}

/** A random v4-shaped UUID from `rng`; with probability `zeroBias` its first digit is forced to "0". */
export function randomSub(rng: RandomSource, zeroBias = 0): string {
  const buf = subBuffer;
  let pos = 0;
  for (let word = 0; word < 4; word++) {
    let bits = rng.uint32();
    for (let nibble = 0; nibble < 8; nibble++) {
      if (pos === 8 || pos === 13 || pos === 18 || pos === 23) buf[pos++] = 0x2d; // '-'
      buf[pos++] = HEX.charCodeAt(bits & 0xf);
      bits >>>= 4;
    }
  }
  buf[14] = 0x34; // version 4
  const variantChar = buf[19] as number;
  const variantNibble = variantChar <= 0x39 ? variantChar - 0x30 : variantChar - 0x57;
  buf[19] = HEX.charCodeAt(8 | (variantNibble & 3)); // RFC 4122 variant: 8, 9, a or b
  if (zeroBias > 0 && rng.chance(zeroBias)) buf[0] = 0x30;
  return buf.toString('latin1');
}

function timestampWithFraction(ms: number): number {
  return ms % 1000 === 0 ? ms + 1 : ms;
}

interface Identity {
  readonly provider: string;
  readonly type: string;
  readonly userId: string;
}

/**
 * Draws one external-provider identity, or null for a native user: 25% federated by default, or
 * `share` of them (the providers in the same proportions) when asked.
 */
function drawIdentity(rng: RandomSource, asciiGiven: string, asciiFamily: string, share: number | undefined): Identity | null {
  if (share !== undefined && !rng.chance(share)) return null;
  const roll = share === undefined ? rng.int(100) : rng.int(25);
  if (roll < 10) return { provider: 'Google', type: 'Google', userId: `1${digits(rng, 20)}` };
  if (roll < 15) {
    return { provider: 'SignInWithApple', type: 'SignInWithApple', userId: `00${digits(rng, 4)}.${hexDigits(rng, 32)}.${digits(rng, 4)}` };
  }
  if (roll < 20) return { provider: 'Facebook', type: 'Facebook', userId: `10${digits(rng, 14)}` };
  if (roll < 23) {
    return { provider: 'LoginWithAmazon', type: 'LoginWithAmazon', userId: `amzn1.account.${hexDigits(rng, 28, true)}` };
  }
  if (roll < 25) return { provider: 'OktaSAML', type: 'SAML', userId: `${asciiGiven}.${asciiFamily}@corp.example.co.uk` };
  return null;
}

/** A native user's status: 84/7/6/3% CONFIRMED/UNCONFIRMED/FORCE_CHANGE_PASSWORD/RESET_REQUIRED, or UNCONFIRMED at `unconfirmed`. */
function drawStatus(rng: RandomSource, unconfirmed: number | undefined): UserStatus {
  if (unconfirmed !== undefined) {
    if (rng.chance(unconfirmed)) return 'UNCONFIRMED';
    const roll = rng.int(93);
    if (roll < 84) return 'CONFIRMED';
    return roll < 90 ? 'FORCE_CHANGE_PASSWORD' : 'RESET_REQUIRED';
  }
  const roll = rng.int(100);
  if (roll < 84) return 'CONFIRMED';
  if (roll < 91) return 'UNCONFIRMED';
  if (roll < 97) return 'FORCE_CHANGE_PASSWORD';
  return 'RESET_REQUIRED';
}

/** Probability of forcing a leading "0" so that the share of subs starting with "0" is `skew`. */
function zeroBiasFor(skew: number): number {
  return skew <= 1 / 16 ? 0 : (skew - 1 / 16) / (1 - 1 / 16);
}

/**
 * Adds `options.users` deterministic, realistic users to a pool: IdP-style usernames
 * (`Google_1093…`, `SignInWithApple_…`), unicode names, values with quotes, backslashes and newlines,
 * every user status, about 5% disabled, uniformly random v4 subs (optionally skewed toward "0").
 * The same seed into the same pool state gives the same users.
 */
export function seedUsers(pool: UserPool, options: SeedOptions): void {
  assertSeedOptions(options);
  const rng = new RandomSource(options.seed ?? 1);
  const zeroBias = zeroBiasFor(options.subSkew ?? 0);
  const batch: StoredUser[] = [];
  const batchNames = new Set<string>();
  const usernameTaken = (name: string): boolean => batchNames.has(name) || pool.findByUsername(name) !== undefined;

  for (let n = 0; n < options.users; n++) {
    let sub = randomSub(rng, zeroBias);
    while (pool.hasSub(sub)) sub = randomSub(rng, zeroBias);

    const [given, asciiGiven] = rng.pick(GIVEN);
    const [family, asciiFamily] = rng.pick(FAMILY);
    const identity = drawIdentity(rng, asciiGiven, asciiFamily, options.federatedShare);

    let username: string;
    if (identity !== null) {
      username = flat(`${identity.provider}_${identity.userId}`);
      while (usernameTaken(username)) username = flat(`${username}${digits(rng, 1)}`);
      batchNames.add(username);
    } else if (rng.chance(0.7)) {
      // Pools that sign in by email use the sub as the username.
      username = sub;
    } else {
      username = flat(`${asciiGiven}.${asciiFamily}${digits(rng, 3)}`);
      while (usernameTaken(username)) username = flat(`${username}${digits(rng, 1)}`);
      batchNames.add(username);
    }

    const attributes: string[] = [];
    const plusTag = rng.chance(0.1) ? `+${rng.pick(['news', 'work', 'test'])}` : '';
    let email = `${asciiGiven}.${asciiFamily}${digits(rng, rng.int(4))}${plusTag}@${rng.pick(DOMAINS)}`;
    if (rng.chance(0.05)) email = email.charAt(0).toUpperCase() + email.slice(1);
    attributes.push(A_EMAIL, flat(email), A_EMAIL_VERIFIED, rng.chance(0.8) || identity !== null ? TRUE : FALSE);

    const style = rng.int(100);
    let name: string | null = `${given} ${family}`;
    if (style < 2) name = `${given} "${rng.pick(NICKNAMES)}" ${family}`;
    else if (style < 3) name = `${given}\n${family}`;
    else if (style < 4) name = `${given} \\ ${family}`;
    else if (style < 10) name = null;
    if (name !== null) attributes.push(A_NAME, flat(name));
    if (rng.chance(0.9)) attributes.push(A_GIVEN, given);
    if (rng.chance(0.88)) attributes.push(A_FAMILY, family);

    const hasPhone = rng.chance(0.65);
    if (hasPhone) {
      attributes.push(A_PHONE, flat(`${rng.pick(PHONE_PREFIXES)}${digits(rng, 10)}`), A_PHONE_VERIFIED, rng.chance(0.6) ? TRUE : FALSE);
    }
    if (rng.chance(0.35)) {
      const preferred = rng.chance(0.05) ? `CORP\\${asciiGiven}` : `${asciiGiven}${digits(rng, 2)}`;
      attributes.push(A_PREFERRED, flat(preferred));
    }
    if (rng.chance(0.9)) attributes.push(A_TENANT, rng.pick(TENANTS));

    const createdMs = timestampWithFraction(CREATED_FROM + Math.floor(rng.next() * (CREATED_TO - CREATED_FROM)));
    const modifiedMs = rng.chance(0.3)
      ? createdMs
      : timestampWithFraction(createdMs + Math.floor(rng.next() * (MODIFIED_TO - createdMs)));
    if (identity !== null) {
      const identities = JSON.stringify([
        {
          userId: identity.userId,
          providerName: identity.provider,
          providerType: identity.type,
          issuer: null,
          primary: true,
          dateCreated: createdMs,
        },
      ]);
      attributes.push(A_IDENTITIES, identities);
    }

    const status = identity !== null ? 'EXTERNAL_PROVIDER' : drawStatus(rng, options.unconfirmedShare);
    const enabled = !rng.chance(0.05);
    const mfa = hasPhone && identity === null && rng.chance(0.02) ? SMS_MFA : null;
    batch.push(new StoredUser(sub, username, enabled, status, createdMs, modifiedMs, attributes, mfa));
  }
  pool.addMany(batch);
  // A pool with a declared schema declares what its seeded users hold.
  if (pool.schema.isDeclared && options.users > 0) pool.schema.declare(A_TENANT);
}
