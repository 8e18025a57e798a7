import type { AttributeType, MFAOptionType, UserType } from '@aws-sdk/client-cognito-identity-provider';

/** A user to add directly (library only), e.g. with a chosen sub to land mid-walk. */
export interface NewUser {
  username: string;
  /** @default a random v4 UUID */
  sub?: string;
  attributes?: Record<string, string>;
  /** @default true */
  enabled?: boolean;
  /** @default 'CONFIRMED' */
  status?: UserStatus;
  /** @default now */
  createdAt?: Date;
}

/** The user statuses Cognito reports in `UserStatus`. */
export type UserStatus =
  | 'UNCONFIRMED'
  | 'CONFIRMED'
  | 'ARCHIVED'
  | 'COMPROMISED'
  | 'UNKNOWN'
  | 'RESET_REQUIRED'
  | 'FORCE_CHANGE_PASSWORD'
  | 'EXTERNAL_PROVIDER';

/** A legacy SMS/email MFA setting, listed by ListUsers only when a user has one. */
export interface MfaOption {
  readonly DeliveryMedium: 'SMS' | 'EMAIL';
  readonly AttributeName: string;
}

/** One attribute as it travels in Cognito's JSON. */
export interface WireAttribute {
  Name: string;
  Value: string;
}

/** A user exactly as ListUsers puts it on the wire: dates are epoch seconds with a fraction. */
export interface WireUser {
  Username: string;
  Attributes: WireAttribute[];
  UserCreateDate: number;
  UserLastModifiedDate: number;
  Enabled: boolean;
  UserStatus: UserStatus;
  MFAOptions?: MfaOption[];
}

// One string instance per attribute name, so a million users share a handful of name strings.
const internedNames = new Map<string, string>();

/** The shared instance of an attribute name (keeps per-user memory small). */
export function internAttributeName(name: string): string {
  const known = internedNames.get(name);
  if (known !== undefined) return known;
  if (internedNames.size < 10_000) internedNames.set(name, name);
  return name;
}

/**
 * A user in the emulator's store. Every instance has the same shape (V8 keeps one hidden class), and
 * attributes are a flat `[name, value, …]` array rather than an object per user: at a million users
 * that is the difference between a few hundred megabytes and well over a gigabyte.
 */
export class StoredUser {
  constructor(
    /** Immutable, unique, the store's sort key. Not kept in `attributes`. */
    readonly sub: string,
    public username: string,
    public enabled: boolean,
    public status: UserStatus,
    /** Epoch milliseconds. */
    public createdMs: number,
    /** Epoch milliseconds. */
    public modifiedMs: number,
    /** `[name, value, name, value, …]` in insertion order, without `sub`. */
    public attributes: string[],
    public mfaOptions: readonly MfaOption[] | null,
  ) {}

  /** A user from the library's description, with `sub` chosen by the caller (a `sub` attribute is ignored). */
  static fromNew(user: NewUser, sub: string): StoredUser {
    const createdMs = user.createdAt?.getTime() ?? userTimestampNow();
    const attributes = Object.entries(user.attributes ?? {})
      .filter(([name]) => name !== 'sub')
      .flatMap(([name, value]) => [internAttributeName(name), value]);
    return new StoredUser(sub, user.username, user.enabled ?? true, user.status ?? 'CONFIRMED', createdMs, createdMs, attributes, null);
  }

  /** The value of one attribute (`sub` included), or undefined when the user lacks it. */
  attribute(name: string): string | undefined {
    if (name === 'sub') return this.sub;
    const list = this.attributes;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] === name) return list[i + 1];
    }
    return undefined;
  }

  /** Sets or replaces one attribute (not `sub`, which never changes). */
  setAttribute(name: string, value: string): void {
    const list = this.attributes;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] === name) {
        list[i + 1] = value;
        return;
      }
    }
    list.push(internAttributeName(name), value);
  }

  /** Removes one attribute; true when the user had it. */
  deleteAttribute(name: string): boolean {
    const list = this.attributes;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] === name) {
        list.splice(i, 2);
        return true;
      }
    }
    return false;
  }

  /** All attributes, `sub` first, as `{Name, Value}` pairs; only `names` when given. */
  wireAttributes(names: readonly string[] | null = null): WireAttribute[] {
    if (names !== null) {
      const out: WireAttribute[] = [];
      for (const name of names) {
        const value = this.attribute(name);
        if (value !== undefined) out.push({ Name: name, Value: value });
      }
      return out;
    }
    const out: WireAttribute[] = [{ Name: 'sub', Value: this.sub }];
    const list = this.attributes;
    for (let i = 0; i < list.length; i += 2) {
      out.push({ Name: list[i] as string, Value: list[i + 1] as string });
    }
    return out;
  }

  /** The ListUsers wire shape; `attributesToGet` limits the attributes as Cognito does. */
  toWire(attributesToGet: readonly string[] | null = null): WireUser {
    const wire: WireUser = {
      Username: this.username,
      Attributes: this.wireAttributes(attributesToGet),
      UserCreateDate: this.createdMs / 1000,
      UserLastModifiedDate: this.modifiedMs / 1000,
      Enabled: this.enabled,
      UserStatus: this.status,
    };
    if (this.mfaOptions !== null) wire.MFAOptions = this.mfaOptions.map((o) => ({ ...o }));
    return wire;
  }

  /** The shape the SDK's ListUsers returns after parsing (dates as `Date`), for comparing exports. */
  toSdk(): UserType {
    const user: UserType = {
      Username: this.username,
      Attributes: this.wireAttributes() satisfies AttributeType[],
      UserCreateDate: new Date(this.createdMs),
      UserLastModifiedDate: new Date(this.modifiedMs),
      Enabled: this.enabled,
      UserStatus: this.status,
    };
    if (this.mfaOptions !== null) user.MFAOptions = this.mfaOptions.map((o): MFAOptionType => ({ ...o }));
    return user;
  }
}

/**
 * The current time for a user's timestamps. Cognito's dates carry milliseconds; a time that falls on
 * a whole second is nudged by 1 ms so that every date on the wire has a fraction, as on AWS.
 */
export function userTimestampNow(): number {
  const now = Date.now();
  return now % 1000 === 0 ? now + 1 : now;
}
