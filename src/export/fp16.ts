/**
 * A float16 variant of an exported model: every float32 initializer is stored as float16 and cast
 * back to float32 by a Cast node at load, so the file is about half the size while inputs, outputs
 * and arithmetic stay float32 — it runs on every execution provider, including CPU builds without
 * float16 kernels. Only weight rounding (≈ 3 significant digits) changes the results.
 */
import { Float16Array } from '@petamoriken/float16';
import { onnx, DataType, OnnxModel, OnnxNode, encodeModel } from './onnx-builder.js';

export function toFloat16Weights(model: OnnxModel): Uint8Array {
  const copy = onnx.ModelProto.decode(encodeModel(model));
  const graph = copy.graph!;
  const casts: OnnxNode[] = [];
  for (const init of graph.initializer ?? []) {
    if (init.dataType !== DataType.FLOAT || !init.rawData || init.rawData.length === 0) continue;
    const raw = init.rawData;
    const f32 = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const f16 = Float16Array.from(f32);
    const name = init.name!;
    init.name = `${name}__fp16`;
    init.dataType = DataType.FLOAT16;
    init.rawData = new Uint8Array(f16.buffer);
    casts.push({ opType: 'Cast', input: [init.name], output: [name], name: `${name}__cast`, attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DataType.FLOAT }] });
  }
  graph.node = [...casts, ...(graph.node ?? [])];
  return onnx.ModelProto.encode(copy).finish();
}
