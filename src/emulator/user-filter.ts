import { FilterError, isSearchableAttribute, MAX_FILTER_LENGTH, parseFilter } from '../cognito/cognito-filter.js';
import type { UserFilter } from '../cognito/cognito-filter.js';
import { CognitoServiceError } from './cognito-error.js';
import type { StoredUser } from './stored-user.js';

/** A ListUsers filter ready to run: a predicate, and for `sub` filters the key range to scan. */
export interface CompiledUserFilter {
  readonly matches: (user: StoredUser) => boolean;
  /** When set, only users whose sub starts with this can match: a binary-search range. */
  readonly subPrefix: string | null;
}

const MATCH_ALL: CompiledUserFilter = { matches: () => true, subPrefix: null };

/**
 * Parses a Filter with the project's shared parser and turns it into a predicate, answering bad
 * filters with Cognito's messages. An empty filter matches everyone, as on AWS.
 */
export function compileUserFilter(expression: string | null): CompiledUserFilter {
  if (expression === null || expression === '') return MATCH_ALL;
  if (expression.length > MAX_FILTER_LENGTH) {
    // The request layer reports this as a validation error before Cognito parses anything.
    throw CognitoServiceError.invalidParameter(
      `1 validation error detected: Value '${expression}' at 'filter' failed to satisfy constraint: ` +
        `Member must have length less than or equal to ${MAX_FILTER_LENGTH}`,
    );
  }
  let filter: UserFilter;
  try {
    filter = parseFilter(expression);
  } catch (error) {
    if (!(error instanceof FilterError)) throw error;
    const attribute = leadingAttributeName(expression);
    if (attribute !== null && attribute !== '' && !isSearchableAttribute(attribute)) {
      throw CognitoServiceError.invalidParameter(`Invalid search attribute: ${attribute}`);
    }
    throw CognitoServiceError.invalidParameter('Error while parsing filter.');
  }
  return compile(filter);
}

function compile(filter: UserFilter): CompiledUserFilter {
  const { attribute, operator, value } = filter;
  const test =
    operator === '='
      ? (actual: string | undefined): boolean => actual === value
      : (actual: string | undefined): boolean => actual !== undefined && actual.startsWith(value);
  switch (attribute) {
    case 'sub':
      return { matches: (user) => test(user.sub), subPrefix: value };
    case 'username':
      return { matches: (user) => test(user.username), subPrefix: null };
    case 'status':
      // "Enabled"/"Disabled", case-sensitive.
      return { matches: (user) => test(user.enabled ? 'Enabled' : 'Disabled'), subPrefix: null };
    case 'cognito:user_status': {
      // The one case-insensitive attribute.
      const wanted = value.toUpperCase();
      return operator === '='
        ? { matches: (user) => user.status === wanted, subPrefix: null }
        : { matches: (user) => user.status.startsWith(wanted), subPrefix: null };
    }
    default:
      return { matches: (user) => test(user.attribute(attribute)), subPrefix: null };
  }
}

/** The attribute name at the start of a filter, quoted or bare, or null when there is none. */
function leadingAttributeName(expression: string): string | null {
  const match = /^\s*(?:"((?:[^"\\]|\\.)*)"|([^\s=^"]+))/.exec(expression);
  if (match === null) return null;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : (match[2] ?? null);
}
