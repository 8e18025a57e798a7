import { CognitoServiceError } from './cognito-error.js';

/** Pattern of `UserPoolId` as Cognito's API model declares it. */
export const POOL_ID_PATTERN = String.raw`[\w-]+_[0-9a-zA-Z]+`;
/** Pattern of pagination tokens: no whitespace. */
export const NON_BLANK_PATTERN = String.raw`[\S]+`;
/** Pattern of usernames and attribute names. */
export const PRINTABLE_PATTERN = String.raw`[\p{L}\p{M}\p{S}\p{N}\p{P}]+`;
/** Pattern of pool names. */
export const POOL_NAME_PATTERN = String.raw`[\w\s+=,.@-]+`;

/** Constraints on one string member, named as in AWS's API model. */
export interface StringConstraints {
  readonly required?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: string;
  /** The enum values the member may take. */
  readonly oneOf?: readonly string[];
  /** A sensitive member (a password): AWS leaves its value out of validation messages. */
  readonly sensitive?: boolean;
}

/** Constraints on one integer member. */
export interface IntegerConstraints {
  readonly required?: boolean;
  readonly min?: number;
  readonly max?: number;
}

const compiled = new Map<string, RegExp>();
function matchesWhole(pattern: string, value: string): boolean {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = new RegExp(`^(?:${pattern})$`, 'u');
    compiled.set(pattern, re);
  }
  return re.test(value);
}

/**
 * Reads members of a JSON request body and collects constraint violations the way AWS reports them:
 * `2 validation errors detected: Value '' at 'paginationToken' failed to satisfy constraint: …; …`.
 * A member of the wrong JSON type is a SerializationException at once, as on AWS.
 */
export class RequestValidator {
  readonly #body: Record<string, unknown>;
  readonly #errors: string[];
  /** Path of this structure's members in messages, e.g. `sourceUser.` (empty at the top level). */
  readonly #prefix: string;

  constructor(body: Record<string, unknown>, errors: string[] = [], prefix = '') {
    this.#body = body;
    this.#errors = errors;
    this.#prefix = prefix;
  }

  /**
   * A structure member, read by the returned validator (its errors are reported with this one's,
   * named `member.field`); undefined when absent (recorded as an error when required).
   */
  structure(member: string, required = false): RequestValidator | undefined {
    const raw = this.#body[member];
    if (raw === undefined || raw === null) {
      if (required) this.#fail('null', this.#at(member), 'Member must not be null');
      return undefined;
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw CognitoServiceError.serialization(`Expected a structure for ${member}`);
    return new RequestValidator(raw as Record<string, unknown>, this.#errors, `${this.#at(member)}.`);
  }

  /** A list of structures, each read by a validator of its own (`member.N.member.field` in messages). */
  structureList(member: string): RequestValidator[] | undefined {
    const raw = this.#body[member];
    if (raw === undefined || raw === null) return undefined;
    if (!Array.isArray(raw) || raw.some((item) => typeof item !== 'object' || item === null || Array.isArray(item))) {
      throw CognitoServiceError.serialization(`Expected a list of structures for ${member}`);
    }
    return (raw as Record<string, unknown>[]).map((item, index) => new RequestValidator(item, this.#errors, `${this.#at(member)}.${index + 1}.member.`));
  }

  /** A boolean member; undefined when absent. */
  boolean(member: string): boolean | undefined {
    const raw = this.#body[member];
    if (raw === undefined || raw === null) return undefined;
    if (typeof raw !== 'boolean') throw CognitoServiceError.serialization(`Expected a boolean for ${member}`);
    return raw;
  }

  #at(member: string): string {
    return `${this.#prefix}${lowerFirst(member)}`;
  }

  /** A string member; undefined when absent (recorded as an error when required). */
  string(member: string, constraints: StringConstraints = {}): string | undefined {
    const raw = this.#body[member];
    const at = this.#at(member);
    if (raw === undefined || raw === null) {
      if (constraints.required === true) this.#fail('null', at, 'Member must not be null');
      return undefined;
    }
    if (typeof raw !== 'string') throw CognitoServiceError.serialization(`Expected a string for ${member}`);
    const before = this.#errors.length;
    for (const problem of stringProblems(raw, constraints)) this.#fail(constraints.sensitive === true ? null : `'${raw}'`, at, problem);
    return this.#errors.length === before ? raw : undefined;
  }

  /** An integer member; undefined when absent. */
  integer(member: string, constraints: IntegerConstraints = {}): number | undefined {
    const raw = this.#body[member];
    const at = this.#at(member);
    if (raw === undefined || raw === null) {
      if (constraints.required === true) this.#fail('null', at, 'Member must not be null');
      return undefined;
    }
    if (typeof raw !== 'number' || !Number.isInteger(raw)) {
      throw CognitoServiceError.serialization(`Expected an integer for ${member}`);
    }
    const before = this.#errors.length;
    if (constraints.min !== undefined && raw < constraints.min) {
      this.#fail(`'${raw}'`, at, `Member must have value greater than or equal to ${constraints.min}`);
    }
    if (constraints.max !== undefined && raw > constraints.max) {
      this.#fail(`'${raw}'`, at, `Member must have value less than or equal to ${constraints.max}`);
    }
    return this.#errors.length === before ? raw : undefined;
  }

  /** A list of strings; each member is checked against `constraints`. */
  stringList(member: string, constraints: StringConstraints = {}): string[] | undefined {
    const raw = this.#body[member];
    if (raw === undefined || raw === null) {
      if (constraints.required === true) this.#fail('null', this.#at(member), 'Member must not be null');
      return undefined;
    }
    if (!Array.isArray(raw) || raw.some((item) => typeof item !== 'string')) {
      throw CognitoServiceError.serialization(`Expected a list of strings for ${member}`);
    }
    const items = raw as string[];
    const problems = new Set(items.flatMap((item) => stringProblems(item, constraints)));
    if (problems.size === 0) return items;
    this.#fail(`'[${items.join(', ')}]'`, this.#at(member), `Member must satisfy constraint: [${[...problems].join(', ')}]`);
    return undefined;
  }

  /** A list of `{Name, Value}` attributes. */
  attributeList(member: string, required = false): { Name: string; Value: string }[] | undefined {
    const raw = this.#body[member];
    if (raw === undefined || raw === null) {
      if (required) this.#fail('null', this.#at(member), 'Member must not be null');
      return undefined;
    }
    const ok =
      Array.isArray(raw) &&
      raw.every((item: unknown) => {
        if (typeof item !== 'object' || item === null) return false;
        const { Name, Value } = item as Record<string, unknown>;
        return typeof Name === 'string' && (Value === undefined || typeof Value === 'string');
      });
    if (!ok) throw CognitoServiceError.serialization(`Expected a list of {Name, Value} for ${member}`);
    const items = (raw as { Name: string; Value?: string }[]).map((a) => ({ Name: a.Name, Value: a.Value ?? '' }));
    items.forEach((attribute, index) => {
      const at = `${this.#at(member)}.${index + 1}.member`;
      for (const problem of stringProblems(attribute.Name, { min: 1, max: 32, pattern: PRINTABLE_PATTERN })) {
        this.#fail(`'${attribute.Name}'`, `${at}.name`, problem);
      }
      // AttributeValueType is sensitive: AWS leaves the value out of the message.
      for (const problem of stringProblems(attribute.Value, { max: 2048 })) this.#fail(null, `${at}.value`, problem);
    });
    return items;
  }

  /** Throws the collected validation errors as one InvalidParameterException, if there are any. */
  done(): void {
    const count = this.#errors.length;
    if (count === 0) return;
    const noun = count === 1 ? 'error' : 'errors';
    throw CognitoServiceError.invalidParameter(`${count} validation ${noun} detected: ${this.#errors.join('; ')}`);
  }

  /** Records one violation; `renderedValue` is `'…'` quoted, the bare word null, or (sensitive) left out. */
  #fail(renderedValue: string | null, at: string, constraint: string): void {
    const value = renderedValue === null ? 'Value' : `Value ${renderedValue}`;
    this.#errors.push(`${value} at '${at}' failed to satisfy constraint: ${constraint}`);
  }
}

function stringProblems(value: string, constraints: StringConstraints): string[] {
  const problems: string[] = [];
  if (constraints.oneOf !== undefined && !constraints.oneOf.includes(value)) {
    problems.push(`Member must satisfy enum value set: [${constraints.oneOf.join(', ')}]`);
  }
  if (constraints.pattern !== undefined && !matchesWhole(constraints.pattern, value)) {
    problems.push(`Member must satisfy regular expression pattern: ${constraints.pattern}`);
  }
  if (constraints.min !== undefined && value.length < constraints.min) {
    problems.push(`Member must have length greater than or equal to ${constraints.min}`);
  }
  if (constraints.max !== undefined && value.length > constraints.max) {
    problems.push(`Member must have length less than or equal to ${constraints.max}`);
  }
  return problems;
}

function lowerFirst(member: string): string {
  return member.charAt(0).toLowerCase() + member.slice(1);
}
