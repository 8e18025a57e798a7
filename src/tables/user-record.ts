import type { UserType } from '@aws-sdk/client-cognito-identity-provider';
import { NO_PRIVACY, privateValue, type RecordPrivacy } from './privacy.js';

/** One MFA option as Cognito reports it, in snake_case. */
export interface MfaOptionRecord {
  readonly delivery_medium: string | null;
  readonly attribute_name: string | null;
}

/**
 * One user as an output line (schema_version 1): snake_case keys, ISO 8601 UTC timestamps with
 * milliseconds, attribute values exactly as the strings Cognito returns.
 */
export interface UserRecord {
  readonly user_pool_id: string;
  readonly snapshot_id: string;
  readonly username: string;
  readonly sub: string | null;
  readonly enabled: boolean;
  readonly status: string | null;
  readonly created_at: string | null;
  readonly last_modified_at: string | null;
  /** Every attribute but `sub` (which is a column of its own), or only the selected ones. */
  readonly attributes: Readonly<Record<string, string>>;
  readonly mfa_options: readonly MfaOptionRecord[];
}

/** What every record of a run shares. */
export interface RecordContext {
  readonly userPoolId: string;
  readonly snapshotId: string;
  /**
   * Attributes to keep, chosen client-side (Cognito's AttributesToGet fails the whole call when one
   * user lacks one). `null` keeps all.
   */
  readonly attributes: ReadonlySet<string> | null;
  /** Attributes dropped and fields pseudonymized (`username`, attributes). @default none */
  readonly privacy?: RecordPrivacy | undefined;
}

/** Maps a ListUsers user to its output record. Pure. */
export function toUserRecord(user: UserType, context: RecordContext): UserRecord {
  const privacy = context.privacy ?? NO_PRIVACY;
  const attributes: Record<string, string> = {};
  let sub: string | null = null;
  for (const attribute of user.Attributes ?? []) {
    const name = attribute.Name;
    if (name === undefined) continue;
    if (name === 'sub') {
      sub = attribute.Value ?? null;
      continue;
    }
    if (context.attributes !== null && !context.attributes.has(name)) continue;
    if (privacy.exclude.has(name)) continue;
    attributes[name] = privateValue(privacy, name, attribute.Value ?? '');
  }
  return {
    user_pool_id: context.userPoolId,
    snapshot_id: context.snapshotId,
    username: privateValue(privacy, 'username', user.Username ?? ''),
    sub,
    enabled: user.Enabled ?? true,
    status: user.UserStatus ?? null,
    created_at: user.UserCreateDate?.toISOString() ?? null,
    last_modified_at: user.UserLastModifiedDate?.toISOString() ?? null,
    attributes,
    mfa_options: (user.MFAOptions ?? []).map((option) => ({
      delivery_medium: option.DeliveryMedium ?? null,
      attribute_name: option.AttributeName ?? null,
    })),
  };
}

const ATTRIBUTE_NAME = /^[A-Za-z0-9_:.-]{1,128}$/;

/**
 * Parses `--attributes email,custom:tenant` into a set. Throws a RangeError naming the bad entry.
 */
export function parseAttributeList(list: string): ReadonlySet<string> {
  const names = list.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!ATTRIBUTE_NAME.test(name)) {
      throw new RangeError(
        `attribute name ${JSON.stringify(name)} is not valid: expected a comma-separated list such as email,custom:tenant`,
      );
    }
  }
  return new Set(names);
}
