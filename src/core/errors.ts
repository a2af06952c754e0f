/**
 * Typed errors shared by every wganx module.
 *
 * Wrong kind of argument → `TypeError`-like {@link InvalidArgumentError}; out of range → the same
 * class with the allowed range in the message. Every message names the field, the value and what
 * is allowed, so that the CLI can print it as one line and the HTTP API can return it as a 4xx body.
 */

/** Base class: every error wganx throws on purpose is a WganxError. */
export class WganxError extends Error {
  override name = 'WganxError';
}

/** Bad input: names the field, the offending value and what is allowed. */
export class InvalidArgumentError extends WganxError {
  override name = 'InvalidArgumentError';
  readonly field: string;
  readonly value: unknown;
  readonly allowed: string;
  constructor(field: string, value: unknown, allowed: string) {
    super(value === undefined ? `${field} is missing; expected ${allowed}` : `${field}: ${describeValue(value)} is not allowed; expected ${allowed}`);
    this.field = field;
    this.value = value;
    this.allowed = allowed;
  }
}

/** A model layer (or option of a layer) that the ONNX exporter cannot convert faithfully. */
export class UnsupportedLayerError extends WganxError {
  override name = 'UnsupportedLayerError';
  constructor(
    readonly layerName: string,
    readonly className: string,
    readonly detail: string,
  ) {
    super(`cannot export layer "${layerName}" (${className}): ${detail}`);
  }
}

/** Exported ONNX and the original model disagree beyond the tolerance. */
export class ParityError extends WganxError {
  override name = 'ParityError';
}

/** Quote a value for an error message, keeping it short. */
export function describeValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value.length > MAX_QUOTE ? value.slice(0, MAX_QUOTE) : value);
  else if (typeof value === 'number' || typeof value === 'boolean' || value == null) text = String(value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  return text.length > MAX_QUOTE ? `${text.slice(0, MAX_QUOTE - 3)}...` : text;
}

/** Longest quote of a value in a message. */
export const MAX_QUOTE = 80;

/**
 * A value as an error body may echo it: a number, boolean or null as is; a short string or small
 * JSON value as is; anything longer (or too deeply nested to print) as {@link describeValue}'s
 * bounded quote.
 */
export function boundedValue(value: unknown): unknown {
  if (value === undefined || value === null || typeof value === 'number' || typeof value === 'boolean') return value ?? null;
  if (typeof value === 'string') return value.length <= MAX_QUOTE ? value : describeValue(value);
  try {
    const text = JSON.stringify(value);
    if (text !== undefined && text.length <= MAX_QUOTE) return value;
  } catch {
    // too deep or cyclic: quote it
  }
  return describeValue(value);
}
