/**
 * What PSEUDONYMIZATION_KEY must be: the hex or base64 form of at least 32 random bytes, as
 * `openssl rand -hex 32` prints. Every pseudonym is an HMAC under it, and the manifest's key id is a
 * hash of it: with a guessable key (a passphrase), anyone holding an export could confirm guesses
 * offline and then reverse the pseudonyms of likely values (emails, phone numbers). A format check
 * cannot prove randomness; it refuses what is plainly not random: text, short keys, repeated bytes.
 */

/** Bytes of randomness a key must carry. */
export const MIN_KEY_BYTES = 32;

/** How to make a good key, for messages. */
export const KEY_RECIPE = 'openssl rand -hex 32';

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
/** Fewer distinct values than this among 32+ random bytes has odds below 1 in 10^12. */
const MIN_DISTINCT_BYTES = 16;

/** The bytes a key's text stands for, or undefined when it is neither hex nor base64. */
function decodeKey(text: string): Buffer | undefined {
  if (HEX.test(text)) return Buffer.from(text, 'hex');
  if (!BASE64.test(text)) return undefined;
  // A random base64 string of 43+ characters mixes upper and lower case (odds of one case only:
  // about 1 in 10^9); a word or passphrase written without spaces usually does not.
  if (!/[A-Z]/.test(text) || !/[a-z]/.test(text)) return undefined;
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/**
 * Why `text` is not a usable PSEUDONYMIZATION_KEY, or undefined. The message never quotes the key.
 */
export function pseudonymizationKeyProblem(text: string): string | undefined {
  const bytes = decodeKey(text);
  const distinct = bytes === undefined ? 0 : new Set(bytes).size;
  if (bytes === undefined || bytes.length < MIN_KEY_BYTES || distinct < MIN_DISTINCT_BYTES) {
    return `expected the hex or base64 of at least ${MIN_KEY_BYTES} random bytes (not a passphrase): make one with ${KEY_RECIPE}`;
  }
  return undefined;
}
