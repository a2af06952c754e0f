/**
 * A minimal PNG encoder for small images (per-sample images of JSON responses): framing in JS and
 * one zlib deflate. sharp's per-call pipeline set-up on the main thread dwarfs the work for a
 * 28×28 digit (bench/RESULTS.md, 2026-12-07).
 *
 * Deflate runs inline for small images and on the encoding thread (./encode-worker.ts); only a
 * large image on the main thread goes to libuv's thread pool. Node's async zlib builds a stream per
 * call, which costs the main thread several times the JavaScript of deflating a 28×28 digit inline
 * (a large share of the event loop's busy time under batch-1 load; bench/RESULTS.md, 2026-12-07).
 * The window is sized to the image: zlib's set-up is cheaper, and a digit compresses to the same
 * bytes.
 *
 * @example
 *   const png = await encodeSmallPng(pixels, 28, 28, 1); // 8-bit grey
 */
import { promisify } from 'node:util';
import { isMainThread } from 'node:worker_threads';
import zlib from 'node:zlib';

const deflate = promisify(zlib.deflate);
/** Images up to this many raw bytes are deflated inline on the main thread too (a fraction of a millisecond at most: bench/RESULTS.md). */
const INLINE_DEFLATE_BYTES = 16 * 1024;
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** PNG colour type by channel count: grey, grey+alpha, RGB, RGBA. */
const COLOUR_TYPE: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(zlib.crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}

/** 8-bit HWC pixels → PNG bytes (filter "none" on every row). */
export async function encodeSmallPng(pixels: Uint8Array, width: number, height: number, channels: number): Promise<Buffer> {
  const stride = width * channels;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOUR_TYPE[channels];
  // A window no larger than the data (zlib allows 2^9 to 2^15 bytes). Run-length matching: on
  // generator samples (unfiltered rows) it compresses as well as the default strategy, in about
  // two thirds of the time.
  const options = { windowBits: Math.min(15, Math.max(9, Math.ceil(Math.log2(raw.length)))), strategy: zlib.constants.Z_RLE };
  const idat = isMainThread && raw.length > INLINE_DEFLATE_BYTES ? await deflate(raw, options) : zlib.deflateSync(raw, options);
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}
