import { isUserPoolId } from '../cognito/cognito-client.js';
import { FilterError, parseFilter } from '../cognito/cognito-filter.js';
import { parseDestination } from '../storage/destination.js';
import { parseAttributeList } from '../tables/user-record.js';

/**
 * Why one field of an export request is invalid, or undefined: for callers that report problems by
 * key (the config file) instead of failing on the first, as `buildRunSpec` does. Same validators.
 */

/** Why `id` is not a user pool id. */
export function poolIdProblem(id: string): string | undefined {
  if (isUserPoolId(id)) return undefined;
  return `${JSON.stringify(id)} is not a valid user pool id: expected <region>_<id>, e.g. eu-west-1_AbCdEf123`;
}

/** Why `destination` is not an s3:// or file:// destination. */
export function destinationProblem(destination: string): string | undefined {
  try {
    parseDestination(destination);
    return undefined;
  } catch (error) {
    // The caller's key already says "destination"; drop the word that leads the shared message.
    return rangeMessage(error).replace(/^destination /, '');
  }
}

/** Why `filter` is not a ListUsers filter (blank means none, which is fine). */
export function filterProblem(filter: string): string | undefined {
  if (filter.trim() === '') return undefined;
  try {
    parseFilter(filter);
    return undefined;
  } catch (error) {
    if (!(error instanceof FilterError)) throw error;
    return `${JSON.stringify(filter)} is not a valid filter: ${error.message}`;
  }
}

/** Why `list` is not a comma-separated list of attribute names. */
export function attributesProblem(list: string): string | undefined {
  try {
    parseAttributeList(list);
    return undefined;
  } catch (error) {
    return rangeMessage(error);
  }
}

/** The message of the RangeError the shared parsers throw; anything else is a bug and propagates. */
export function rangeMessage(error: unknown): string {
  if (error instanceof RangeError) return error.message;
  throw error;
}
