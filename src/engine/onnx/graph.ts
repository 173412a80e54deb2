// A tiny typed builder over onnx-proto: nodes, float initializers and value infos, encoded as a ModelProto.
// Opset 13 keeps ReduceL2's `axes` an attribute and is supported by every onnxruntime of the last years.
import { onnx } from 'onnx-proto';

export const OPSET = 13;

type Attr = number | number[] | string;
type Dim = number | string;

function attribute(name: string, value: Attr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  // Integers stay INT; the few float attributes in our graphs are passed with floatAttrs.
  return { name, type: T.INT, i: value };
}

type ElemType = 'float32' | 'int64';

function valueInfo(name: string, dims: Dim[], elem: ElemType = 'float32'): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: elem === 'int64' ? onnx.TensorProto.DataType.INT64 : onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inits: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private counter = 0;

  /** `opset`: the training graphs need 16 (ScatterElements with reduction). */
  constructor(private readonly opset = OPSET) {}

  /** A float32 constant; returns its name. */
  constant(name: string, data: Float32Array, dims: number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`initializer ${name}: ${data.length} values for shape [${dims.join(', ')}]`);
    // Copy so rawData owns exactly these bytes (a subarray view would carry its whole buffer).
    const bytes = new Uint8Array(Float32Array.from(data).buffer);
    this.inits.push({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims, rawData: bytes });
    return name;
  }

  /** An int8 / uint8 / int32 constant (quantized weights, zero points, biases). */
  constantInt(name: string, data: Int8Array | Uint8Array | Int32Array, dims: number[]): string {
    const T = onnx.TensorProto.DataType;
    const dataType = data instanceof Int8Array ? T.INT8 : data instanceof Uint8Array ? T.UINT8 : T.INT32;
    const copy = data.slice();
    this.inits.push({ name, dataType, dims, rawData: new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength) });
    return name;
  }

  /** An int64 constant (Reshape shapes and the like). */
  constantInt64(name: string, values: number[]): string {
    const data = new BigInt64Array(values.map((v) => BigInt(v)));
    this.inits.push({ name, dataType: onnx.TensorProto.DataType.INT64, dims: [values.length], rawData: new Uint8Array(data.buffer) });
    return name;
  }

  /** Adds a node with one output; returns the output name (generated from `hint` unless `output` is given). */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string, floatAttrs: Record<string, number> = {}): string {
    const out = output ?? `${opType.toLowerCase()}_${this.counter++}`;
    const attribute_ = Object.entries(attrs).map(([k, v]) => attribute(k, v));
    for (const [k, f] of Object.entries(floatAttrs)) attribute_.push({ name: k, type: onnx.AttributeProto.AttributeType.FLOAT, f });
    this.nodes.push({ opType, input: inputs, output: [out], name: out, attribute: attribute_ });
    return out;
  }

  /** Adds a node with several outputs (e.g. MaxPool's values and indices); returns their names. */
  opMulti(opType: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}): string[] {
    const attribute_ = Object.entries(attrs).map(([k, v]) => attribute(k, v));
    this.nodes.push({ opType, input: inputs, output: outputs, name: outputs[0], attribute: attribute_ });
    return outputs;
  }

  /** A fresh tensor name (for opMulti outputs). */
  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  input(name: string, dims: Dim[], elem: ElemType = 'float32'): string {
    this.inputs.push(valueInfo(name, dims, elem));
    return name;
  }

  output(name: string, dims: Dim[], elem: ElemType = 'float32'): void {
    this.outputs.push(valueInfo(name, dims, elem));
  }

  encode(graphName: string, metadata: Record<string, string> = {}): Uint8Array {
    const graph = onnx.GraphProto.create({ name: graphName, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs });
    const model = onnx.ModelProto.create({
      irVersion: 7,
      producerName: 'kefer-studio',
      opsetImport: [{ domain: '', version: this.opset }],
      graph,
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
