/**
 * Limits on JSON request bodies that body size alone does not bound: a 9 KB body of 4,500 nested
 * `[` parses fine but overflows the stack of whatever walks it next (a validator, an error
 * message). No valid request nests deeper than a KServe tensor (8 levels of data inside the
 * request object), so anything deeper than {@link MAX_JSON_DEPTH} is refused before parsing.
 */
import { isUtf8 } from 'node:buffer';
import { HttpError } from './http-error.js';
import { InvalidArgumentError } from '../../core/errors.js';

/** Deepest nesting of arrays and objects a request body may have. */
export const MAX_JSON_DEPTH = 32;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The deepest nesting of `[`/`{` in JSON text (bytes), outside strings; stops counting past `limit`. */
export function jsonDepth(bytes: Uint8Array, limit = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return deepest;
}

/** Throws a 400 naming `field` when the JSON in `bytes` nests deeper than {@link MAX_JSON_DEPTH}. */
export function checkJsonDepth(bytes: Uint8Array, field: string): void {
  const depth = jsonDepth(bytes, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) {
    const err = new InvalidArgumentError(field, `JSON nested more than ${MAX_JSON_DEPTH} levels deep`, `at most ${MAX_JSON_DEPTH} levels of nested arrays and objects`);
    // body-parser keeps this status for errors thrown by `verify`.
    throw Object.assign(err, { status: 400 });
  }
}

/**
 * Throws a 415 unless the body is UTF-8: the nesting check reads bytes as ASCII, which another
 * encoding (UTF-16 turns `"` into other characters' bytes) would walk past.
 */
export function checkJsonCharset(encoding: string): void {
  if (encoding.toLowerCase().replace('_', '-') !== 'utf-8') throw charsetRefused(encoding);
}

/** The 415 of a Content-Type charset other than UTF-8 (ours, and body-parser's for charsets it does not know). */
export function charsetRefused(charset: string): HttpError {
  return new HttpError(415, `Content-Type charset ${JSON.stringify(charset)} is not accepted; expected utf-8`, { field: 'Content-Type', value: charset, allowed: 'charset utf-8' });
}

/** Throws a 400 naming the body when its bytes are not UTF-8 (they would be read as U+FFFD and refused later for a reason the client cannot see). */
export function checkUtf8(bytes: Uint8Array): void {
  if (isUtf8(bytes)) return;
  throw new HttpError(400, 'body is not valid UTF-8; expected JSON text in UTF-8', { field: 'body', allowed: 'JSON text in UTF-8' });
}
