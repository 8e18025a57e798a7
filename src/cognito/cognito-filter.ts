/**
 * The ListUsers `Filter` language: `Attr = "value"` or `Attr ^= "value"`, one attribute, the value in
 * double quotes with `\` escaping, at most 256 characters. Shared by the exporter (to validate and
 * escape before any call) and the emulator (to answer like Cognito does).
 */

/** Attributes Cognito lets ListUsers filter on; anything else (custom attributes included) is rejected. */
export const SEARCHABLE_ATTRIBUTES = [
  'username',
  'email',
  'phone_number',
  'name',
  'given_name',
  'family_name',
  'preferred_username',
  'cognito:user_status',
  'status',
  'sub',
] as const;

export type SearchableAttribute = (typeof SEARCHABLE_ATTRIBUTES)[number];

/** `=` matches the whole value, `^=` matches a prefix. */
export type FilterOperator = '=' | '^=';

/** A parsed filter: one attribute, one operator, the unescaped value. */
export interface UserFilter {
  readonly attribute: SearchableAttribute;
  readonly operator: FilterOperator;
  readonly value: string;
}

/** Cognito's limit on the length of the Filter parameter. */
export const MAX_FILTER_LENGTH = 256;

/** A filter expression Cognito would reject; the message says what is wrong with it. */
export class FilterError extends Error {
  override readonly name = 'FilterError';
}

const searchable: ReadonlySet<string> = new Set(SEARCHABLE_ATTRIBUTES);

/** True when `name` is an attribute ListUsers can filter on. */
export function isSearchableAttribute(name: string): name is SearchableAttribute {
  return searchable.has(name);
}

/**
 * Parses a filter expression as Cognito does: optional whitespace anywhere between the parts, the
 * attribute name bare or in double quotes, the value in double quotes with `\"` (and `\\`) escapes.
 * Throws {@link FilterError} naming the problem.
 */
export function parseFilter(expression: string): UserFilter {
  if (expression.length > MAX_FILTER_LENGTH) {
    throw new FilterError(`filter is ${expression.length} characters; Cognito accepts at most ${MAX_FILTER_LENGTH}`);
  }
  let pos = 0;
  const skipSpace = (): void => {
    while (pos < expression.length && /\s/.test(expression[pos] ?? '')) pos++;
  };
  const readQuoted = (what: string): string => {
    if (expression[pos] !== '"') throw new FilterError(`expected a double-quoted ${what} at position ${pos + 1}`);
    pos++;
    let out = '';
    for (;;) {
      const ch = expression[pos];
      if (ch === undefined) throw new FilterError(`unterminated quoted ${what}: add the closing "`);
      pos++;
      if (ch === '"') return out;
      if (ch === '\\') {
        const next = expression[pos];
        if (next === undefined) throw new FilterError(`dangling \\ at the end of the ${what}`);
        out += next;
        pos++;
        continue;
      }
      out += ch;
    }
  };

  skipSpace();
  let attribute: string;
  if (expression[pos] === '"') {
    attribute = readQuoted('attribute name');
  } else {
    const start = pos;
    while (pos < expression.length && /[A-Za-z0-9_:-]/.test(expression[pos] ?? '')) pos++;
    attribute = expression.slice(start, pos);
  }
  if (attribute === '') throw new FilterError('filter has no attribute name; expected e.g. email ^= "a"');
  if (!isSearchableAttribute(attribute)) {
    throw new FilterError(
      `attribute "${attribute}" is not searchable; ListUsers filters on ${SEARCHABLE_ATTRIBUTES.join(', ')}`,
    );
  }
  skipSpace();
  let operator: FilterOperator;
  if (expression.startsWith('^=', pos)) {
    operator = '^=';
    pos += 2;
  } else if (expression[pos] === '=') {
    operator = '=';
    pos += 1;
  } else {
    throw new FilterError(`expected = or ^= after ${attribute}`);
  }
  skipSpace();
  const value = readQuoted('value');
  skipSpace();
  if (pos !== expression.length) {
    throw new FilterError(`unexpected text after the value: ${JSON.stringify(expression.slice(pos))}`);
  }
  return { attribute, operator, value };
}

/** Escapes a value for use inside the double quotes of a filter. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\"]/g, (ch) => `\\${ch}`);
}

/**
 * Renders a filter in canonical form (`attr ^= "escaped value"`). Throws {@link FilterError} when
 * the result would exceed Cognito's 256-character limit.
 */
export function formatFilter(filter: UserFilter): string {
  const text = `${filter.attribute} ${filter.operator} "${escapeFilterValue(filter.value)}"`;
  if (text.length > MAX_FILTER_LENGTH) {
    throw new FilterError(`filter is ${text.length} characters; Cognito accepts at most ${MAX_FILTER_LENGTH}`);
  }
  return text;
}
