/**
 * The Open Inference Protocol (KServe v2, as spoken by Triton) over HTTP/REST, with the binary
 * tensor data extension: a request body may be a JSON header of `Inference-Header-Content-Length`
 * bytes followed by raw little-endian tensors (inputs with `parameters.binary_data_size`, in
 * order); outputs asked for with `parameters.binary_data: true` come back the same way.
 * Errors are `{"error": "…"}`. Inference goes through the same dynamic batcher as /v1.
 *
 * @example
 *   POST /v2/models/ring/infer
 *   {"inputs": [{"name": "z", "shape": [2, 2], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]}
 */
import express, { type Router } from 'express';
import { InvalidArgumentError } from '../../core/errors.js';
import type { TensorDtype } from '../../core/manifest.js';
import type { Engine } from '../engine/engine.js';
import { HttpError } from './http-error.js';
import { numbersJson } from '../../encode/encode-pool.js';
import { admission, clientSignal, info, lookupModel, modelHeaders, serverTiming } from './http-util.js';
import { checkJsonDepth } from './json-limits.js';
import type { LoadedModel } from '../engine/model.js';
import { parseInput, type InferRequest, type RequestSchemas } from './schemas.js';
import { VERSION } from '../../version.js';

export const BINARY_HEADER = 'inference-header-content-length';
export const KSERVE_DTYPES: Readonly<Record<TensorDtype, string>> = Object.freeze({ float32: 'FP32', float16: 'FP16', int32: 'INT32', int64: 'INT64' });
const SERVER_NAME = 'wganx';
const EXTENSIONS = ['binary_tensor_data'];
/** Stands for an output's `data` in the response's JSON until its numbers are spliced in. */
const DATA_SLOT = '\u0000data\u0000';
const DATA_SLOT_JSON = JSON.stringify(DATA_SLOT);

type InferInput = InferRequest['inputs'][number];

/**
 * A JSON body typed exactly `application/json`, as Triton and KServe send it: KServe's Python
 * client reads an error's message only then (express would add `; charset=utf-8`).
 */
export function sendKserveJson(res: express.Response, body: unknown, status = 200): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.status(status);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', bytes.length);
  res.end(bytes);
}

function metadata(model: LoadedModel) {
  const dims = (shape: (number | string)[]) => shape.map((d) => (typeof d === 'number' ? d : -1));
  return {
    name: model.name,
    versions: [model.manifest.version],
    platform: 'onnxruntime_onnx',
    inputs: model.manifest.inputs.map((i) => ({ name: i.name, datatype: KSERVE_DTYPES[i.dtype], shape: dims(i.shape) })),
    outputs: model.manifest.outputs.map((o) => ({ name: o.name, datatype: KSERVE_DTYPES[o.dtype], shape: dims(o.shape) })),
  };
}

/** Flatten (possibly nested) JSON tensor data; one longer than `expected` is counted, not copied. */
function flatten(data: unknown, expected: number, field: string): unknown[] {
  if (!Array.isArray(data)) throw new InvalidArgumentError(field, data, 'an array of numbers (flat or nested, row-major)');
  const out: unknown[] = [];
  let count = 0;
  const stack: { arr: unknown[]; i: number }[] = [{ arr: data, i: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.i >= top.arr.length) {
      stack.pop();
      continue;
    }
    const v = top.arr[top.i++];
    if (Array.isArray(v)) {
      if (stack.length >= 8) throw new InvalidArgumentError(field, '…', 'at most 8 levels of nesting');
      stack.push({ arr: v, i: 0 });
    } else {
      if (++count <= expected) out.push(v);
    }
  }
  // The count of values, not a value of the data: named as such.
  if (count !== expected) throw new InvalidArgumentError(`${field} (its number of values)`, count, `${expected}, the product of shape`);
  return out;
}

function checkShape(t: InferInput, field: string, want: (number | null)[], maxBatch: number): number {
  const allowed = `[${want.map((d) => (d === null ? `batch (1…${maxBatch})` : d)).join(', ')}]`;
  if (t.shape.length !== want.length) throw new InvalidArgumentError(`${field}.shape`, t.shape, allowed);
  const batch = t.shape[0];
  if (batch < 1 || batch > maxBatch) throw new InvalidArgumentError(`${field}.shape`, t.shape, allowed);
  want.forEach((d, i) => {
    if (d !== null && t.shape[i] !== d) throw new InvalidArgumentError(`${field}.shape`, t.shape, allowed);
  });
  return batch;
}

/** The latent tensor as float32 [batch, dim]. */
function readLatent(t: InferInput, bin: Buffer | null, field: string, dim: number, maxBatch: number): { z: Float32Array; batch: number } {
  if (t.datatype !== 'FP32') throw new InvalidArgumentError(`${field}.datatype`, t.datatype, 'FP32');
  const batch = checkShape(t, field, [null, dim], maxBatch);
  const count = batch * dim;
  let z: Float32Array;
  if (bin) {
    if (bin.length !== count * 4) throw new InvalidArgumentError(`${field}.parameters.binary_data_size`, bin.length, `${count * 4} bytes (FP32 × shape)`);
    z = new Float32Array(count);
    Buffer.from(z.buffer).set(bin);
  } else {
    const values = flatten(t.data, count, `${field}.data`);
    z = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const v = values[i];
      if (typeof v !== 'number') throw new InvalidArgumentError(`${field}.data.${i}`, v, 'a number');
      z[i] = v;
    }
  }
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(z[i])) throw new InvalidArgumentError(`${field}.data.${i}`, z[i], 'a finite float32');
  }
  return { z, batch };
}

/** The label tensor, INT64 or INT32 [batch, 1] (or [batch]), each in [0, K). */
function readLabels(t: InferInput, bin: Buffer | null, field: string, numClasses: number, maxBatch: number): Int32Array {
  if (t.datatype !== 'INT64' && t.datatype !== 'INT32') throw new InvalidArgumentError(`${field}.datatype`, t.datatype, 'INT64 or INT32');
  const batch = checkShape(t, field, t.shape.length === 1 ? [null] : [null, 1], maxBatch);
  const out = new Int32Array(batch);
  const allowed = `a class index from 0 to ${numClasses - 1}`;
  if (bin) {
    const width = t.datatype === 'INT64' ? 8 : 4;
    if (bin.length !== batch * width) throw new InvalidArgumentError(`${field}.parameters.binary_data_size`, bin.length, `${batch * width} bytes (${t.datatype} × shape)`);
    for (let i = 0; i < batch; i++) {
      const v = width === 8 ? Number(bin.readBigInt64LE(i * 8)) : bin.readInt32LE(i * 4);
      if (!(v >= 0 && v < numClasses)) throw new InvalidArgumentError(`${field}.data.${i}`, v, allowed);
      out[i] = v;
    }
  } else {
    const values = flatten(t.data, batch, `${field}.data`);
    values.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= numClasses) throw new InvalidArgumentError(`${field}.data.${i}`, v, allowed);
      out[i] = v;
    });
  }
  return out;
}

/** Split a request body into the JSON header and the binary section. */
function splitBody(raw: Buffer, headerLength: string | string[] | undefined): { header: unknown; binary: Buffer } {
  let jsonBytes: Buffer = raw;
  let binary: Buffer = Buffer.alloc(0);
  if (headerLength !== undefined) {
    const text = Array.isArray(headerLength) ? headerLength[0] : headerLength;
    const n = /^\s*\d{1,10}\s*$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n > raw.length) {
      throw new InvalidArgumentError('Inference-Header-Content-Length', text, `an integer from 0 to the body length (${raw.length})`);
    }
    jsonBytes = raw.subarray(0, n);
    binary = raw.subarray(n);
  }
  checkJsonDepth(jsonBytes, 'request');
  let header: unknown;
  try {
    header = JSON.parse(jsonBytes.toString('utf8'));
  } catch (err) {
    throw new InvalidArgumentError('request', `${jsonBytes.length} bytes`, `a JSON inference request header (${(err as Error).message})`);
  }
  return { header, binary };
}

export function kserveRouter(engine: Engine, schemas: RequestSchemas, rawParser: express.RequestHandler): Router {
  const r = express.Router();
  const maxBatch = engine.options.maxSamples;

  r.get('/v2', (_req, res) => {
    info(res).endpoint = 'v2.server';
    sendKserveJson(res, { name: SERVER_NAME, version: VERSION, extensions: EXTENSIONS });
  });
  r.get('/v2/health/live', (_req, res) => {
    info(res).endpoint = 'v2.live';
    sendKserveJson(res, { live: true });
  });
  r.get('/v2/health/ready', (_req, res) => {
    info(res).endpoint = 'v2.ready';
    // KServe's body is { ready }; when not ready, also why and which model folders hold it back.
    const { ready, reason, models } = engine.readiness();
    sendKserveJson(res, ready ? { ready } : { ready, reason, models }, ready ? 200 : 503);
  });

  const versioned = (path: string) => [`/v2/models/:name${path}`, `/v2/models/:name/versions/:version${path}`];
  const model = (req: express.Request, res: express.Response) => {
    const m = lookupModel(engine, req.params.name, res);
    const version = req.params.version;
    if (version !== undefined && version !== m.manifest.version) {
      throw new HttpError(404, `model "${m.name}" has version ${JSON.stringify(m.manifest.version)}, not ${JSON.stringify(version)}`);
    }
    return m;
  };

  r.get(versioned(''), (req, res) => {
    info(res).endpoint = 'v2.metadata';
    sendKserveJson(res, metadata(model(req, res)));
  });
  r.get(versioned('/ready'), (req, res) => {
    info(res).endpoint = 'v2.model_ready';
    model(req, res);
    sendKserveJson(res, { name: req.params.name, ready: true });
  });

  const admit = admission(engine, engine.options.maxBodyBytes);
  r.post(
    versioned('/infer'),
    (_req, res, next) => {
      info(res).endpoint = 'v2.infer';
      next();
    },
    admit,
    rawParser,
    async (req, res) => {
      const m = model(req, res);
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const { header, binary } = splitBody(raw, req.headers[BINARY_HEADER]);
      const request = parseInput(schemas.inferRequest, header, 'request');
      const { latent, label } = m.io;
      // Binary sections, in input order.
      const bins = new Map<string, Buffer>();
      let offset = 0;
      request.inputs.forEach((t, i) => {
        const size = t.parameters?.binary_data_size;
        if (size === undefined) {
          if (t.data === undefined) throw new InvalidArgumentError(`request.inputs.${i}.data`, undefined, 'tensor data, or parameters.binary_data_size with the binary extension');
          return;
        }
        if (t.data !== undefined) throw new InvalidArgumentError(`request.inputs.${i}.data`, '…', 'left out when parameters.binary_data_size is given');
        if (offset + size > binary.length) throw new InvalidArgumentError(`request.inputs.${i}.parameters.binary_data_size`, size, `at most the ${binary.length - offset} binary bytes left`);
        bins.set(t.name, binary.subarray(offset, offset + size));
        offset += size;
      });
      if (offset !== binary.length) throw new InvalidArgumentError('Inference-Header-Content-Length', req.headers[BINARY_HEADER] ?? null, `a header length leaving exactly the ${offset} bytes of binary tensor data (got ${binary.length})`);
      const names = [latent.name, ...(label ? [label.name] : [])];
      const seen = new Set<string>();
      request.inputs.forEach((t, i) => {
        if (!names.includes(t.name)) throw new InvalidArgumentError(`request.inputs.${i}.name`, t.name, `one of ${names.map((n) => JSON.stringify(n)).join(', ')}`);
        if (seen.has(t.name)) throw new InvalidArgumentError(`request.inputs.${i}.name`, t.name, 'each input once');
        seen.add(t.name);
      });
      const missing = names.filter((n) => !seen.has(n));
      if (missing.length > 0) throw new InvalidArgumentError('request.inputs', request.inputs.map((t) => t.name), `inputs named ${names.map((n) => JSON.stringify(n)).join(' and ')}`);
      const li = request.inputs.findIndex((t) => t.name === latent.name);
      const { z, batch } = readLatent(request.inputs[li], bins.get(latent.name) ?? null, `request.inputs.${li}`, latent.dim, maxBatch);
      let labels: Int32Array | null = null;
      if (label) {
        const ci = request.inputs.findIndex((t) => t.name === label.name);
        labels = readLabels(request.inputs[ci], bins.get(label.name) ?? null, `request.inputs.${ci}`, m.manifest.conditional!.numClasses, maxBatch);
        if (labels.length !== batch) throw new InvalidArgumentError(`request.inputs.${ci}.shape`, request.inputs[ci].shape, `[${batch}, 1] (the latent's batch)`);
      }
      const outName = m.io.output.name;
      (request.outputs ?? []).forEach((o, i) => {
        if (o.name !== outName) throw new InvalidArgumentError(`request.outputs.${i}.name`, o.name, JSON.stringify(outName));
      });
      const wantBinary = request.outputs?.[0]?.parameters?.binary_data ?? request.parameters?.binary_data_output === true;

      const result = await engine.submit(m, { rows: batch, source: { kind: 'raw', z }, labels, signal: clientSignal(res) });
      serverTiming(res, result.queueMs, result.computeMs);
      modelHeaders(res, m);
      const shape = [batch, ...result.rowShape];
      const out: Record<string, unknown> = { name: outName, datatype: 'FP32', shape };
      const response: Record<string, unknown> = { model_name: m.name, model_version: m.manifest.version, ...(request.id !== undefined ? { id: request.id } : {}), outputs: [out] };
      if (!wantBinary) {
        // The numbers' JSON text (14 MB for 1,024 digits) is written off the event loop, then spliced in.
        out.data = DATA_SLOT;
        const text = JSON.stringify(response);
        const at = text.lastIndexOf(DATA_SLOT_JSON); // data is the last field written: a client's id cannot come after it
        const before = text.slice(0, at);
        const after = text.slice(at + DATA_SLOT_JSON.length);
        const data = await numbersJson(result.data);
        res.setHeader('Content-Type', 'application/json');
        res.setHeader('Content-Length', Buffer.byteLength(before) + data.length + Buffer.byteLength(after));
        res.write(before);
        res.write(data);
        res.end(after);
        return;
      }
      const bytes = Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength);
      out.parameters = { binary_data_size: bytes.length };
      const json = Buffer.from(JSON.stringify(response));
      res.setHeader('Inference-Header-Content-Length', String(json.length));
      // The header, then the outputs' own memory: written as they are, not copied into one buffer.
      res.type('application/octet-stream');
      res.setHeader('Content-Length', json.length + bytes.length);
      res.write(json);
      res.end(bytes);
    },
  );

  return r;
}
