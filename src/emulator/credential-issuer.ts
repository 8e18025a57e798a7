import type { RandomSource } from './random-source.js';
import { ACCOUNT_ID } from './user-pool.js';

/** Who a request's credentials belong to. */
export interface Principal {
  /** The 12-digit AWS account. */
  readonly account: string;
  /** `arn:aws:iam::<account>:root` for static keys, `arn:aws:sts::<account>:assumed-role/<role>/<session>` for sessions. */
  readonly arn: string;
  /** GetCallerIdentity's UserId: the account for root, `<role id>:<session>` for a session. */
  readonly userId: string;
}

/** What a request's credentials come to: a principal, or the reason AWS would refuse them. */
export type Authentication =
  | { readonly kind: 'ok'; readonly principal: Principal }
  /** No SigV4 Authorization at all, while access keys are restricted. */
  | { readonly kind: 'missing' }
  /** An access key or session token nobody issued (or not on the allow list). */
  | { readonly kind: 'invalid' }
  | { readonly kind: 'expired' };

/** A role that can be assumed, and what it asks of the caller. */
export interface RoleDefinition {
  /** `arn:aws:iam::<12 digits>:role/[path/]<name>`. */
  readonly roleArn: string;
  /** When set, AssumeRole must send exactly this ExternalId. */
  readonly externalId?: string;
}

/** A registered role as the emulator describes it. */
export interface RoleSummary {
  readonly roleArn: string;
  readonly account: string;
  /** The unique role id (`AROA…`) in AssumedRoleId. */
  readonly roleId: string;
  readonly externalIdRequired: boolean;
}

/** Temporary credentials as AssumeRole returns them. */
export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  /** Epoch milliseconds, rounded up to a whole second (STS sends no fraction). */
  readonly expiresAtMs: number;
  readonly assumedRoleArn: string;
  readonly assumedRoleId: string;
}

/** Why AssumeRole refused: the caller may not assume the role (unknown role, or wrong ExternalId). */
export class AssumeRoleDenied extends Error {
  override readonly name = 'AssumeRoleDenied';
}

interface Role extends RoleSummary {
  readonly name: string;
  readonly externalId: string | null;
}

interface Session {
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiresAtMs: number;
  readonly principal: Principal;
}

const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
// Sessions expired this long ago are forgotten (until then a late request still hears "expired").
const FORGET_AFTER_MS = 60 * 60 * 1000;

/** The root principal of an account, as static (long-term) keys of that account appear. */
export function rootPrincipal(account: string): Principal {
  return { account, arn: `arn:aws:iam::${account}:root`, userId: account };
}

/**
 * Accounts, roles and temporary credentials: a small IAM + STS. Static access keys belong to the
 * default account; AssumeRole of a registered role issues `ASIA…` keys that belong to the role's
 * account, work only with their session token, and expire.
 */
export class CredentialIssuer {
  readonly #roles = new Map<string, Role>();
  readonly #sessions = new Map<string, Session>();
  readonly #random: RandomSource;

  constructor(
    /** The account of every access key the issuer did not issue. */
    readonly defaultAccount: string,
    /** Draws role ids and credentials; seed it for reproducible runs. */
    random: RandomSource,
  ) {
    if (!ACCOUNT_ID.test(defaultAccount)) throw new RangeError(`Expected an account id of 12 digits, got \`${defaultAccount}\``);
    this.#random = random;
  }

  /** Registers (or replaces) a role; throws a RangeError for a malformed ARN or ExternalId. */
  createRole(definition: RoleDefinition): RoleSummary {
    const match = ROLE_ARN.exec(definition.roleArn);
    if (match === null) throw new RangeError(`Expected a role ARN like arn:aws:iam::111111111111:role/exporter, got \`${definition.roleArn}\``);
    const externalId = definition.externalId ?? null;
    if (externalId !== null && !EXTERNAL_ID.test(externalId)) {
      throw new RangeError(`Expected an external id of 2-1224 characters [\\w+=,.@:/-], got \`${externalId}\``);
    }
    const existing = this.#roles.get(definition.roleArn);
    const roleId = existing?.roleId ?? `AROA${this.#draw(UPPER_ALNUM, 17)}`;
    const role: Role = { roleArn: definition.roleArn, account: match[1] as string, name: match[2] as string, roleId, externalId, externalIdRequired: externalId !== null };
    this.#roles.set(role.roleArn, role);
    return summarize(role);
  }

  /** Every registered role, by ARN. */
  roles(): RoleSummary[] {
    return [...this.#roles.values()].sort((a, b) => (a.roleArn < b.roleArn ? -1 : 1)).map(summarize);
  }

  /**
   * What a request's credentials come to. `accessKeyId` is null for an unsigned request; `allowed`
   * restricts static keys (null = any). Issued session keys are always known to the issuer.
   */
  authenticate(accessKeyId: string | null, sessionToken: string | null, nowMs: number, allowed: readonly string[] | null): Authentication {
    if (accessKeyId === null) return allowed === null ? { kind: 'ok', principal: rootPrincipal(this.defaultAccount) } : { kind: 'missing' };
    const session = this.#sessions.get(accessKeyId);
    if (session !== undefined) {
      if (sessionToken !== session.sessionToken) return { kind: 'invalid' };
      return nowMs >= session.expiresAtMs ? { kind: 'expired' } : { kind: 'ok', principal: session.principal };
    }
    if (sessionToken !== null) return { kind: 'invalid' };
    if (allowed !== null && !allowed.includes(accessKeyId)) return { kind: 'invalid' };
    return { kind: 'ok', principal: rootPrincipal(this.defaultAccount) };
  }

  /**
   * Issues credentials for the role, valid `durationSeconds` from `nowMs` (rounded up to the whole
   * second, so they never live shorter than asked).
   * Throws AssumeRoleDenied for an unregistered role or a missing or wrong ExternalId.
   */
  assumeRole(roleArn: string, sessionName: string, externalId: string | null, durationSeconds: number, nowMs: number): IssuedCredentials {
    const role = this.#roles.get(roleArn);
    if (role === undefined || (role.externalId !== null && externalId !== role.externalId)) throw new AssumeRoleDenied(roleArn);
    this.#forgetOldSessions(nowMs);
    let accessKeyId: string;
    do accessKeyId = `ASIA${this.#draw(UPPER_ALNUM, 16)}`;
    while (this.#sessions.has(accessKeyId));
    const assumedRoleArn = `arn:aws:sts::${role.account}:assumed-role/${role.name}/${sessionName}`;
    const assumedRoleId = `${role.roleId}:${sessionName}`;
    const session: Session = {
      secretAccessKey: this.#draw(BASE64, 40),
      sessionToken: `IQoJb3JpZ2luX2Vj${this.#draw(BASE64, 340)}`,
      expiresAtMs: Math.ceil((nowMs + durationSeconds * 1000) / 1000) * 1000,
      principal: { account: role.account, arn: assumedRoleArn, userId: assumedRoleId },
    };
    this.#sessions.set(accessKeyId, session);
    return { accessKeyId, secretAccessKey: session.secretAccessKey, sessionToken: session.sessionToken, expiresAtMs: session.expiresAtMs, assumedRoleArn, assumedRoleId };
  }

  #forgetOldSessions(nowMs: number): void {
    if (this.#sessions.size < 10_000) return;
    for (const [key, session] of this.#sessions) if (session.expiresAtMs + FORGET_AFTER_MS < nowMs) this.#sessions.delete(key);
  }

  #draw(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[this.#random.int(alphabet.length)];
    return out;
  }
}

function summarize(role: Role): RoleSummary {
  return { roleArn: role.roleArn, account: role.account, roleId: role.roleId, externalIdRequired: role.externalIdRequired };
}
