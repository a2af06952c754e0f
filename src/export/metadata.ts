/**
 * The manifest inside an ONNX file: `metadata_props["wganx.manifest"]` holds the manifest JSON
 * (without the file's own sha256), so that a bare `.onnx` is self-describing.
 *
 * @example
 *   const manifest = readOnnxManifest(await readFile('models/ring/generator.onnx'));
 */
import { InvalidArgumentError } from '../core/errors.js';
import { MANIFEST_METADATA_KEY, Manifest, parseManifest } from '../core/manifest.js';
import { decodeModel, onnx } from './onnx-builder.js';

/** Return `bytes` with the manifest stored in metadata_props (other entries are kept). */
export function embedManifest(bytes: Uint8Array, manifest: Manifest): Uint8Array {
  const model = decodeModel(bytes);
  const others = (model.metadataProps ?? []).filter((p) => p.key !== MANIFEST_METADATA_KEY);
  model.metadataProps = [...others, onnx.StringStringEntryProto.create({ key: MANIFEST_METADATA_KEY, value: JSON.stringify(manifest) })];
  return onnx.ModelProto.encode(model).finish();
}

/** Read and validate the manifest stored in an ONNX file. */
export function readOnnxManifest(bytes: Uint8Array): Manifest {
  let model;
  try {
    model = decodeModel(bytes);
  } catch (err) {
    throw new InvalidArgumentError('onnx', `${bytes.length} bytes`, `a valid ONNX ModelProto (${(err as Error).message})`);
  }
  const entry = (model.metadataProps ?? []).find((p) => p.key === MANIFEST_METADATA_KEY);
  if (!entry?.value) throw new InvalidArgumentError(`metadata_props["${MANIFEST_METADATA_KEY}"]`, undefined, 'a wganx manifest (was this file exported by wganx?)');
  return parseManifest(JSON.parse(entry.value), MANIFEST_METADATA_KEY);
}
