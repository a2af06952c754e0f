/**
 * `GET /openapi.json` (OpenAPI 3.1; request bodies generated from the same zod schemas that
 * validate them) and `GET /docs`, a self-contained HTML page (no CDN: servers are often offline)
 * listing every endpoint with an example.
 */
import { z } from 'zod';
import { REFINE_METHODS, REFINE_METHOD_NAMES } from '../../runtime/refine/index.js';
import { REFINE_LIMITS } from '../engine/refine.js';
import type { ServeOptions } from '../options.js';
import { VERSION } from '../../version.js';
import { REFINE_HELP, type RequestSchemas } from './schemas.js';

const jsonSchema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });

type RefineLimits = Pick<ServeOptions, (typeof REFINE_LIMITS)[keyof typeof REFINE_LIMITS]>;

/**
 * The `refine` field's JSON schema, from the runtime's method table: one object per method with its
 * parameters' bounds and defaults (a bounded parameter's maximum is the server's limit). Requests
 * are checked by the table itself (src/serve/engine/refine.ts); this documents them.
 */
function refineSchema(limits: RefineLimits) {
  const bounded = REFINE_LIMITS as Readonly<Record<string, keyof RefineLimits>>;
  return {
    description: REFINE_HELP,
    oneOf: REFINE_METHOD_NAMES.map((m) => {
      const row = REFINE_METHODS[m];
      const params = Object.fromEntries(
        Object.entries(row.params).map(([key, p]) => {
          const max = key in bounded ? Math.min(p.max, limits[bounded[key]]) : p.max;
          return [key, { type: p.int ? 'integer' : 'number', [p.exclusiveMin ? 'exclusiveMinimum' : 'minimum']: p.min, maximum: max, default: p.default, description: p.help }];
        }),
      );
      return { type: 'object', title: m, description: row.help, properties: { method: { const: m }, ...params }, required: ['method'], additionalProperties: false };
    }),
  };
}

/** The samples body's schema with `refine` spelled out. */
function samplesSchema(schemas: RequestSchemas, limits: RefineLimits) {
  const s = jsonSchema(schemas.samplesBody) as { properties: Record<string, unknown> };
  return { ...s, properties: { ...s.properties, refine: refineSchema(limits) } };
}
const error = { description: 'Error', content: { 'application/json': { schema: { type: 'object', properties: { error: { type: 'string' }, field: { type: 'string' }, value: {}, allowed: {} }, required: ['error'] } } } };
const name = { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' } };
const version = { name: 'version', in: 'path', required: true, description: "the model's version (manifest.version); another gives 404", schema: { type: 'string' } };
const errors = { '400': error, '401': error, '404': error, '413': error, '503': { ...error, description: 'Queue full, model not ready, or shutting down (Retry-After)' }, '504': error };

export function openApiSpec(schemas: RequestSchemas, limits: RefineLimits) {
  const q = (n: string, description: string, type = 'integer') => ({ name: n, in: 'query', required: false, description, schema: { type } });
  const v2Metadata = { get: { summary: 'KServe v2 model metadata', parameters: [name], responses: { '200': { description: 'Metadata' }, ...errors } } };
  const v2Ready = { get: { summary: 'Model readiness', parameters: [name], responses: { '200': { description: 'Ready' }, ...errors } } };
  const v2Infer = {
    post: {
      summary: 'KServe v2 inference: latent (FP32 [batch, dim]) and label (INT64 [batch, 1]) tensors in, the generator output out. Binary tensor data extension with Inference-Header-Content-Length.',
      parameters: [name, { name: 'Inference-Header-Content-Length', in: 'header', required: false, schema: { type: 'integer' } }],
      requestBody: {
        content: {
          'application/json': { schema: jsonSchema(schemas.inferRequest), example: { inputs: [{ name: 'z', shape: [1, 2], datatype: 'FP32', data: [0.1, -0.3] }] } },
          'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
        },
      },
      responses: { '200': { description: 'Inference response' }, ...errors },
    },
  };
  /** The same operation on the `/versions/{version}` route. */
  const versioned = <T extends Record<string, { parameters: unknown[] }>>(ops: T) => Object.fromEntries(Object.entries(ops).map(([method, op]) => [method, { ...op, parameters: [...op.parameters, version] }]));
  return {
    openapi: '3.1.0',
    info: { title: 'wganx serve', version: VERSION, description: 'Samples from Wasserstein GAN generators (ONNX Runtime), a wganx API and the Open Inference Protocol (KServe v2).' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } } },
    security: [{ bearer: [] }, { apiKey: [] }, {}],
    paths: {
      '/v1/models': { get: { summary: 'List models: state, reason when not ready, device, manifest, queue, the refinement methods each can run (refine.methods) and the server\'s limits', responses: { '200': { description: 'Models' } } } },
      '/v1/models/{name}': { get: { summary: 'One model', parameters: [name], responses: { '200': { description: 'Model' }, ...errors } } },
      '/v1/models/{name}/samples': {
        post: {
          summary: 'Generate samples: a grid image, a JSON list (base64 images or points, with seeds and labels), a .npy float32 tensor (NHWC in the output range, no labels) or a .npz archive for numpy (images or points, labels, indices)',
          parameters: [name],
          requestBody: { content: { 'application/json': { schema: samplesSchema(schemas, limits), example: { n: 16, seed: 7, format: 'png', scale: 2, refine: { method: 'rank', k: 8 } } } } },
          responses: {
            '200': { description: 'Samples', headers: { 'X-Wganx-Seed': { schema: { type: 'string' } }, 'X-Wganx-Model-Version': { description: 'the version that answered', schema: { type: 'string' } }, 'X-Wganx-Sha256': { description: 'sha256 of the generator file that answered', schema: { type: 'string' } }, 'X-Wganx-Refine': { description: 'the refinement that ran, every parameter (absent for none)', schema: { type: 'string' } } }, content: { 'image/png': {}, 'image/webp': {}, 'image/jpeg': {}, 'application/json': {}, 'application/octet-stream': { schema: { type: 'string', format: 'binary', description: 'format npy' } }, 'application/zip': { schema: { type: 'string', format: 'binary', description: 'format npz' } } } },
            ...errors,
          },
        },
      },
      '/v1/models/{name}/samples.png': {
        get: {
          summary: 'A sample grid for <img> tags; deterministic (default seed 0), with an ETag',
          parameters: [
            name, q('n', 'number of samples'), q('seed', 'seed (default 0)'), q('start', 'first sample index'), q('class', 'class index or name', 'string'), q('scale', 'upscaling factor'), q('columns', 'grid columns'),
            q('refine', `refinement method: ${REFINE_METHOD_NAMES.join(', ')} (default none); its parameters as refine.<name>, e.g. refine=rank&refine.k=8`, 'string'),
          ],
          responses: { '200': { description: 'PNG', content: { 'image/png': {} } }, '304': { description: 'Not modified (If-None-Match)' }, ...errors },
        },
      },
      '/v1/models/{name}/interpolate': {
        post: {
          summary: 'Latent walk between sample 0 of seedA and of seedB: PNG strip, animated GIF/WebP, or JSON',
          parameters: [name],
          requestBody: { content: { 'application/json': { schema: jsonSchema(schemas.interpolateBody), example: { seedA: 1, seedB: 2, steps: 8, format: 'gif', scale: 4 } } } },
          responses: { '200': { description: 'Strip or animation', content: { 'image/png': {}, 'image/gif': {}, 'image/webp': {}, 'application/json': {} } }, ...errors },
        },
      },
      '/v2': { get: { summary: 'KServe v2 server metadata', responses: { '200': { description: 'name, version, extensions' } } } },
      '/v2/health/live': { get: { summary: 'Liveness', security: [], responses: { '200': { description: 'Live' } } } },
      '/v2/health/ready': { get: { summary: 'Readiness (every model loaded, not draining)', security: [], responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready' } } } },
      '/v2/models/{name}': v2Metadata,
      '/v2/models/{name}/ready': v2Ready,
      '/v2/models/{name}/infer': v2Infer,
      '/v2/models/{name}/versions/{version}': versioned(v2Metadata),
      '/v2/models/{name}/versions/{version}/ready': versioned(v2Ready),
      '/v2/models/{name}/versions/{version}/infer': versioned(v2Infer),
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text/plain exposition format' } } } },
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/docs': { get: { summary: 'Human-readable API page', security: [], responses: { '200': { description: 'HTML' } } } },
      '/models/index.json': { get: { summary: 'Names of the ready models, --default-model first (as a static copy of the page lists them; the page opens the first); header X-Wganx-Server', responses: { '200': { description: 'JSON array of names' } } } },
      '/models/{name}/{file}': {
        get: {
          summary: "A ready model's manifest.json or the ONNX file it names, for wganx/web in browsers (strong ETag, If-None-Match → 304)",
          parameters: [name, { name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'The file', content: { 'application/json': {}, 'application/octet-stream': {} } }, '304': { description: 'Not modified' }, ...errors },
        },
      },
    },
  };
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Display scale of each kind's gallery picture: 28-px digits at 2× and point plots at 1× are about the same size. */
const GALLERY_SCALE = { image: 2, points: 1 } as const;

/**
 * The docs page: a link back to the page at `/`, every endpoint from the spec, request schemas
 * and examples, and live sample images (left out when an API key is required: an `<img>` cannot
 * send it), top-aligned side by side.
 */
export function docsPage(spec: ReturnType<typeof openApiSpec>, models: { name: string; kind: 'image' | 'points' }[], apiKeyRequired: boolean): string {
  const rows = Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => {
      const o = op as { summary: string; requestBody?: { content: Record<string, { example?: unknown; schema?: unknown }> } };
      const json = o.requestBody?.content['application/json'];
      const example = json?.example ? `<pre>${escape(JSON.stringify(json.example))}</pre>` : '';
      const schema = json?.schema ? `<details><summary>request schema</summary><pre>${escape(JSON.stringify(json.schema, null, 2))}</pre></details>` : '';
      return `<section><h3><code>${method.toUpperCase()} ${escape(path)}</code></h3><p>${escape(o.summary)}</p>${example}${schema}</section>`;
    }),
  );
  const imgs = models
    .map(({ name: m, kind }) => `<figure class="${kind}"><img alt="${escape(m)}" src="/v1/models/${encodeURIComponent(m)}/samples.png?scale=${GALLERY_SCALE[kind]}"><figcaption>${escape(m)}</figcaption></figure>`)
    .join('');
  const names = models.map((m) => `<code>${escape(m.name)}</code>`).join(', ');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>wganx serve API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:.5rem;overflow:auto}nav{margin-bottom:1rem}.gallery{display:flex;flex-wrap:wrap;align-items:flex-start;gap:1rem}figure{margin:0}figcaption{text-align:center}img{display:block;max-width:100%;height:auto}.image img{image-rendering:pixelated}</style>
</head><body><nav><a href="/">← the models in your browser (the page at /)</a></nav><h1>wganx serve ${escape(spec.info.version)}</h1><p>${escape(spec.info.description)} Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<p>Errors are JSON: <code>{"error": "…", "field": "…", "value": …, "allowed": "…"}</code> (KServe routes: <code>{"error": "…"}</code>).</p>
${apiKeyRequired ? `<h2>Models</h2><p>${names || 'none ready'}. Sample images need the API key: send it to <code>/v1/models/{name}/samples.png</code>.</p>` : imgs ? `<h2>Models</h2><div class="gallery">${imgs}</div>` : ''}<h2>Endpoints</h2>${rows.join('\n')}</body></html>`;
}
