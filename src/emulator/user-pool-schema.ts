import { CognitoServiceError } from './cognito-error.js';
import type { StoredUser } from './stored-user.js';

/** The attributes every Cognito user pool's schema has (DescribeUserPool lists them for any pool). */
export const STANDARD_ATTRIBUTES: readonly (readonly [name: string, type: string, mutable: boolean])[] = [
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

const STANDARD_NAMES = new Set(STANDARD_ATTRIBUTES.map(([name]) => name));

/** True for the attributes every pool has (`email`, `email_verified`, …). */
export function isStandardAttribute(name: string): boolean {
  return STANDARD_NAMES.has(name);
}

/** The data types Cognito's schema knows. */
export type AttributeDataType = 'String' | 'Number' | 'DateTime' | 'Boolean';

/** A custom attribute of a pool's schema, as the library declares it. */
export interface CustomAttribute {
  /** With or without the `custom:` prefix (`tenant` and `custom:tenant` are the same attribute). */
  name: string;
  /** @default 'String' */
  type?: AttributeDataType;
  /** An immutable attribute can be set when the user is created, never changed afterwards. @default true */
  mutable?: boolean;
}

/** A declared custom attribute, its name always with the `custom:` prefix. */
export interface CustomAttributeDefinition {
  readonly name: string;
  readonly type: AttributeDataType;
  readonly mutable: boolean;
}

/** The password policy the pool checks `TemporaryPassword` against (Cognito's PasswordPolicyType). */
export interface PasswordPolicy {
  minimumLength: number;
  requireUppercase: boolean;
  requireLowercase: boolean;
  requireNumbers: boolean;
  requireSymbols: boolean;
}

/** What a pool created without a policy enforces: AWS's default (8 characters, all four classes). */
export const DEFAULT_PASSWORD_POLICY: Readonly<PasswordPolicy> = Object.freeze({
  minimumLength: 8,
  requireUppercase: true,
  requireLowercase: true,
  requireNumbers: true,
  requireSymbols: true,
});

// The special characters Cognito counts as symbols (a space counts too, but not leading or trailing).
const SYMBOLS = new Set('^$*.[]{}()?"!@#%&/\\,><\':;|_~`=+-');

/** InvalidPasswordException as Cognito words it, when `password` breaks `policy`; null when it conforms. */
export function passwordProblem(password: string, policy: Readonly<PasswordPolicy>): CognitoServiceError | null {
  const fail = (why: string) => new CognitoServiceError('InvalidPasswordException', `Password does not conform to policy: ${why}`);
  if ([...password].length < policy.minimumLength) return fail('Password not long enough');
  if (policy.requireLowercase && !/\p{Ll}/u.test(password)) return fail('Password must have lowercase characters');
  if (policy.requireUppercase && !/\p{Lu}/u.test(password)) return fail('Password must have uppercase characters');
  if (policy.requireNumbers && !/[0-9]/.test(password)) return fail('Password must have numeric characters');
  const inner = password.slice(1, -1);
  const hasSymbol = [...password].some((c) => SYMBOLS.has(c)) || inner.includes(' ');
  if (policy.requireSymbols && !hasSymbol) return fail('Password must have symbol characters');
  return null;
}

/** `custom:name` for `name` or `custom:name`. */
export function customAttributeName(name: string): string {
  return name.startsWith('custom:') ? name : `custom:${name}`;
}

/** The InvalidParameterException Cognito answers for an attribute its schema does not have. */
export function unknownAttribute(name: string): CognitoServiceError {
  return CognitoServiceError.invalidParameter(`Attributes did not conform to the schema: Type for attribute {${name}} could not be determined`);
}

/**
 * The custom part of a pool's schema. A pool whose schema was declared (CreateUserPool, or
 * `customAttributes` when the library creates it) knows exactly the declared custom attributes. A
 * pool created without a declaration (the library's default, which keeps older tests and seeds as
 * they were) knows every custom attribute one of its users has ever held.
 */
export class UserPoolSchema {
  readonly #declared = new Map<string, CustomAttributeDefinition>();
  #isDeclared: boolean;
  readonly #learned = new Set<string>();
  /** Users were added in bulk since the last look: {@link knows} scans them again before it says no. */
  #stale = true;

  constructor(declared: readonly (string | CustomAttribute)[] | null = null) {
    this.#isDeclared = declared !== null;
    for (const attribute of declared ?? []) this.declare(attribute);
  }

  /** True when the schema was declared, so that every write is checked against it. */
  get isDeclared(): boolean {
    return this.#isDeclared;
  }

  /** The declared custom attributes, in declaration order. */
  get declared(): readonly CustomAttributeDefinition[] {
    return [...this.#declared.values()];
  }

  /** Declares one custom attribute (the schema counts as declared from now on); the existing declaration wins. */
  declare(attribute: string | CustomAttribute): CustomAttributeDefinition {
    const spec = typeof attribute === 'string' ? { name: attribute } : attribute;
    const name = customAttributeName(spec.name);
    this.#isDeclared = true;
    const existing = this.#declared.get(name);
    if (existing !== undefined) return existing;
    const definition = { name, type: spec.type ?? 'String', mutable: spec.mutable ?? true };
    this.#declared.set(name, definition);
    return definition;
  }

  /** The declared definition of a custom attribute, if any. */
  definition(name: string): CustomAttributeDefinition | undefined {
    return this.#declared.get(name);
  }

  /** Users were added in bulk (seeding): an undeclared schema looks at them again when asked. */
  usersAdded(): void {
    this.#stale = true;
  }

  /** An undeclared schema learns a custom attribute a write gave a user. */
  learn(name: string): void {
    if (name.startsWith('custom:')) this.#learned.add(name);
  }

  /** True when the pool's schema has this attribute (standard, declared, or, undeclared, ever held). */
  knows(name: string, users: () => readonly StoredUser[]): boolean {
    if (isStandardAttribute(name) || this.#declared.has(name)) return true;
    if (this.#isDeclared || !name.startsWith('custom:')) return false;
    if (this.#learned.has(name)) return true;
    if (!this.#stale) return false;
    for (const user of users()) {
      const list = user.attributes;
      for (let i = 0; i < list.length; i += 2) {
        const held = list[i] as string;
        if (held.startsWith('custom:')) this.#learned.add(held);
      }
    }
    this.#stale = false;
    return this.#learned.has(name);
  }
}
