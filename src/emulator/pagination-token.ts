import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { CognitoServiceError } from './cognito-error.js';

/** What a pagination token carries once decoded. */
export interface PaginationPosition {
  /** Hash of the parameters the token was issued for; a token is only valid with the same ones. */
  readonly binding: string;
  /** Resume strictly after this key (the last sub or group name returned); '' means "from the start". */
  readonly after: string;
  /** When the token was issued, epoch milliseconds (for expiry). */
  readonly issuedAtMs: number;
}

const VERSION = 2;
const BINDING_BYTES = 8;
const MAC_BYTES = 12;
// A group name is up to 128 characters, so up to 512 bytes of UTF-8.
const MAX_KEY_BYTES = 1024;
const HEADER_BYTES = 1 + 8 + BINDING_BYTES + 2;

/**
 * The binding of a ListUsers token: pool, Filter and AttributesToGet (not Limit, so a client may
 * change its page size mid-walk). Reusing a token with other parameters is rejected, as on AWS.
 */
export function listUsersBinding(poolId: string, filter: string | null, attributesToGet: readonly string[] | null): string {
  return bindingOf(['ListUsers', poolId, filter ?? '', attributesToGet === null ? '*' : JSON.stringify(attributesToGet)]);
}

/** A binding for any other listing, from its distinguishing parameters. */
export function bindingOf(parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\u0000');
  return hash.digest().subarray(0, BINDING_BYTES).toString('hex');
}

/**
 * Encodes and checks opaque pagination tokens: version, issue time, parameter binding and resume key,
 * signed with an HMAC so a client cannot forge or edit one, then base64 (like AWS's tokens, it may
 * contain `+`, `/` and `=`).
 */
export class PaginationTokenCodec {
  readonly #key: Buffer;
  #lastIssuedAtMs = Number.NEGATIVE_INFINITY;

  /** @param key HMAC key; tokens from a codec with another key are rejected (as after a restart). */
  constructor(key: Buffer) {
    this.#key = Buffer.from(key);
  }

  /**
   * The opaque token for a position. No two tokens of a codec are alike: an empty page issued within
   * the millisecond of the token it answered keeps its position, so its issue time moves on by a
   * microsecond instead (a client rightly takes a token it has seen before for a loop).
   */
  encode(position: PaginationPosition): string {
    const after = Buffer.from(position.after, 'utf8');
    if (after.length > MAX_KEY_BYTES) throw new RangeError(`resume key is ${after.length} bytes; at most ${MAX_KEY_BYTES}`);
    // Only within the millisecond of the last token: a test's clock may go back, and expiry follows it.
    const collides = position.issuedAtMs <= this.#lastIssuedAtMs && this.#lastIssuedAtMs - position.issuedAtMs < 1;
    const issuedAtMs = collides ? nextAfter(this.#lastIssuedAtMs) : position.issuedAtMs;
    this.#lastIssuedAtMs = issuedAtMs;
    const body = Buffer.alloc(HEADER_BYTES + after.length);
    let at = body.writeUInt8(VERSION, 0);
    at = body.writeDoubleBE(issuedAtMs, at);
    at += Buffer.from(position.binding, 'hex').copy(body, at, 0, BINDING_BYTES);
    at = body.writeUInt16BE(after.length, at);
    after.copy(body, at);
    return Buffer.concat([body, this.#mac(body)]).toString('base64');
  }

  /** The position in a token, or null when it is malformed, altered or from another key. */
  decode(token: string): PaginationPosition | null {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return null;
    const raw = Buffer.from(token, 'base64');
    if (raw.length < HEADER_BYTES + MAC_BYTES) return null;
    const body = raw.subarray(0, raw.length - MAC_BYTES);
    const mac = raw.subarray(raw.length - MAC_BYTES);
    if (!timingSafeEqual(mac, this.#mac(body))) return null;
    if (body.readUInt8(0) !== VERSION) return null;
    const issuedAtMs = body.readDoubleBE(1);
    const binding = body.subarray(9, 9 + BINDING_BYTES).toString('hex');
    const length = body.readUInt16BE(9 + BINDING_BYTES);
    if (HEADER_BYTES + length !== body.length) return null;
    return { binding, after: body.subarray(HEADER_BYTES).toString('utf8'), issuedAtMs };
  }

  #mac(body: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(body).digest().subarray(0, MAC_BYTES);
  }
}

/** A time a microsecond after `ms` (or the next double, where a microsecond is below its precision). */
function nextAfter(ms: number): number {
  const next = ms + 0.001;
  return next > ms ? next : ms * (1 + 2 * Number.EPSILON);
}

/** What checking a presented token needs besides the token. */
export interface ResumeContext {
  readonly codec: PaginationTokenCodec;
  readonly nowMs: number;
  /** Tokens older than this are rejected; null = never expire. */
  readonly tokenTtlSeconds: number | null;
  /** Quoted in the invalid-token message, as AWS does. */
  readonly requestId: string;
}

/**
 * Where a listing resumes: '' without a token, else the token's position. A token that is forged,
 * from another key, bound to other parameters or expired is the invalid-paging-marker error.
 */
export function resumeAfter(token: string | null, binding: string, context: ResumeContext): string {
  if (token === null) return '';
  const position = context.codec.decode(token);
  const expired =
    position !== null && context.tokenTtlSeconds !== null && context.nowMs - position.issuedAtMs > context.tokenTtlSeconds * 1000;
  if (position === null || position.binding !== binding || expired) {
    throw CognitoServiceError.invalidPagingMarker(token, context.requestId);
  }
  return position.after;
}
