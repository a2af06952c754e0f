/**
 * A check of a tfjs model.json's layer graph before tfjs deserialises it. tfjs builds a functional
 * model by retrying every node whose inputs are not built yet until none is left, so a layer whose
 * `inbound_nodes` names a layer that does not exist, or two layers that feed each other, keep it
 * looping forever (at 100 % CPU). Here each node's inputs must be nodes of the same model, and
 * the nodes must form no cycle; the error names the layer.
 *
 * The graph, as Keras writes it: `config.layers[]` with `name`, `class_name` and `inbound_nodes`,
 * a list of nodes, each a list of inputs `[layerName, nodeIndex, tensorIndex, kwargs?]`. An
 * `InputLayer` has one node and no inputs. Nested models (a layer whose class is a model) are
 * checked in turn; Sequential models list their layers in order and have no inbound nodes.
 *
 * @example
 *   checkTopology(json.modelTopology, 'models/x/model.json');   // throws InvalidArgumentError
 */
import { InvalidArgumentError } from '../core/errors.js';

const MODEL_CLASSES = new Set(['Model', 'Functional', 'Sequential']);

interface LayerJson {
  name?: unknown;
  class_name?: unknown;
  config?: unknown;
  inbound_nodes?: unknown;
}

type NodeRef = readonly [layer: string, node: number];

/** The inputs of each node of each layer (null where the entry is not Keras's list form: tfjs reports it). */
function inputsOf(layer: LayerJson): NodeRef[][] | null {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes)) return null;
  const out: NodeRef[][] = [];
  for (const node of nodes) {
    if (!Array.isArray(node)) return null;
    const refs: NodeRef[] = [];
    for (const input of node) {
      if (!Array.isArray(input) || typeof input[0] !== 'string') return null;
      refs.push([input[0], typeof input[1] === 'number' ? input[1] : 0]);
    }
    out.push(refs);
  }
  return out;
}

function checkModel(config: unknown, file: string, where: string, depth: number): void {
  if (depth > 64 || config === null || typeof config !== 'object') return;
  const layers = Array.isArray(config) ? config : (config as { layers?: unknown }).layers;
  if (!Array.isArray(layers)) return;
  const field = `${file}: modelTopology${where}`;
  const nodes = new Map<string, NodeRef[][]>();
  for (const raw of layers as LayerJson[]) {
    if (raw === null || typeof raw !== 'object' || typeof raw.name !== 'string') continue;
    if (typeof raw.class_name === 'string' && MODEL_CLASSES.has(raw.class_name)) checkModel(raw.config, file, `${where} > ${raw.name}`, depth + 1);
    const inputs = inputsOf(raw);
    // An InputLayer (and a layer of a Sequential model) has one node with no inputs.
    nodes.set(raw.name, inputs === null || inputs.length === 0 ? [[]] : inputs);
  }
  if (Array.isArray(config)) return; // Sequential: layers in order, no graph
  const describe = (name: string) => {
    const l = (layers as LayerJson[]).find((x) => x?.name === name);
    return `layer "${name}"${typeof l?.class_name === 'string' ? ` (${l.class_name})` : ''}`;
  };
  for (const [name, own] of nodes) {
    for (const refs of own) {
      for (const [from, index] of refs) {
        const target = nodes.get(from);
        if (!target) throw new InvalidArgumentError(`${field}: ${describe(name)}.inbound_nodes`, from, `the name of a layer of the model (no layer is called ${JSON.stringify(from)})`);
        if (!Number.isInteger(index) || index < 0 || index >= target.length) throw new InvalidArgumentError(`${field}: ${describe(name)}.inbound_nodes`, `${from}[${index}]`, `a node of layer "${from}" (it has ${target.length})`);
      }
    }
  }
  for (const key of ['input_layers', 'output_layers'] as const) {
    const ends = (config as Record<string, unknown>)[key];
    if (!Array.isArray(ends)) continue;
    for (const e of ends) if (Array.isArray(e) && typeof e[0] === 'string' && !nodes.has(e[0])) throw new InvalidArgumentError(`${field}: ${key}`, e[0], 'the name of a layer of the model');
  }
  // A cycle: depth-first over nodes, iteratively (a long chain must not overflow the stack).
  const state = new Map<string, 1 | 2>(); // 1: on the current path, 2: done
  const id = (r: NodeRef) => `${r[0]}\u0000${r[1]}`;
  for (const [name, own] of nodes) {
    for (let n = 0; n < own.length; n++) {
      if (state.has(id([name, n]))) continue;
      const stack: { ref: NodeRef; next: number }[] = [{ ref: [name, n], next: 0 }];
      state.set(id([name, n]), 1);
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        const deps = nodes.get(top.ref[0])![top.ref[1]];
        if (top.next === deps.length) {
          state.set(id(top.ref), 2);
          stack.pop();
          continue;
        }
        const dep = deps[top.next++];
        const s = state.get(id(dep));
        if (s === 1) {
          const loop = [...stack.slice(stack.findIndex((f) => f.ref[0] === dep[0] && f.ref[1] === dep[1])).map((f) => f.ref[0]), dep[0]];
          throw new InvalidArgumentError(`${field}: ${describe(top.ref[0])}.inbound_nodes`, dep[0], `a layer computed before it: the layers feed each other (${loop.join(' → ')})`);
        }
        if (s === undefined) {
          state.set(id(dep), 1);
          stack.push({ ref: dep, next: 0 });
        }
      }
    }
  }
}

/** Throws InvalidArgumentError naming `file` and the layer when the graph cannot be built. */
export function checkTopology(modelTopology: unknown, file: string): void {
  if (modelTopology === null || typeof modelTopology !== 'object') return;
  const t = modelTopology as { model_config?: unknown; config?: unknown };
  // Keras's own files wrap the model in model_config.
  const model = (t.model_config ?? t) as { config?: unknown };
  checkModel(model.config, file, '', 0);
}
