import protobuf from 'protobufjs';
import { MAX_NESTING_DEPTH } from './attribute-values.js';
import { loadOtlpSchema, type OtlpSchema } from './otlp-schema.js';

/**
 * Attribute values nested past `MAX_NESTING_DEPTH` levels, in protobuf: rendered as the depth
 * marker, their content passed over as bytes (never decoded), so that no nesting in a value
 * fails the request, however deep.
 *
 * protobufjs decodes every array and kvlist of a value the receivers render (span-row-reader
 * hands such KeyValues over, and the reference decoder decodes everything), through the
 * types of `cappedSchema()`: a schema of its own whose ArrayValue and KeyValueList decoders
 * stop at the cap. The exporters keep `otlpSchema()`, whose decoders keep everything: a
 * request forwarded as received must not lose its deep values.
 */

/** protobufjs' default (protoc's `CodedInputStream::default_recursion_limit_`). */
const PROTOBUFJS_RECURSION_LIMIT = 100;

/**
 * The recursion limit while decoding OTLP: values nested up to the cap must decode wherever
 * they sit (an event attribute's value starts 6 messages deep, and each kvlist level costs
 * three: AnyValue, KeyValueList, KeyValue). Past it, only unknown groups can still nest, and
 * they are refused as protobufjs refuses them.
 */
export const OTLP_RECURSION_LIMIT = PROTOBUFJS_RECURSION_LIMIT + 3 * MAX_NESTING_DEPTH;

/**
 * Runs a decode with protobufjs' recursion limits (binary and ProtoJSON) raised to
 * `OTLP_RECURSION_LIMIT`. Decoding is synchronous, so nothing else sees the change.
 */
export function withOtlpRecursionLimit<T>(decode: () => T): T {
  const readerLimit = protobuf.Reader.recursionLimit;
  const utilLimit = protobuf.util.recursionLimit;
  protobuf.Reader.recursionLimit = Math.max(readerLimit, OTLP_RECURSION_LIMIT);
  protobuf.util.recursionLimit = Math.max(utilLimit, OTLP_RECURSION_LIMIT);
  try {
    return decode();
  } finally {
    protobuf.Reader.recursionLimit = readerLimit;
    protobuf.util.recursionLimit = utilLimit;
  }
}

let capped: OtlpSchema | undefined;

/** The schema whose decoders pass over arrays and kvlists nested past the cap (see above). */
export function cappedSchema(): OtlpSchema {
  capped ??= capValueNesting(loadOtlpSchema());
  return capped;
}

/** Arrays and kvlists open around the one being decoded (decoding is synchronous: one at a time). */
let openContainers = 0;

type GeneratedDecode = (this: protobuf.Type, reader: protobuf.Reader, length: number | undefined, endGroup: number | undefined, depth: number, into?: protobuf.Message) => protobuf.Message;

function capValueNesting(schema: OtlpSchema): OtlpSchema {
  for (const name of ['ArrayValue', 'KeyValueList']) {
    const type = schema.root.lookupType(`opentelemetry.proto.common.v1.${name}`);
    // `setup` generates the decoder (replacing the lazy one) once, here, so it can be wrapped.
    const generated = type.setup().decode as unknown as GeneratedDecode;
    const decode: GeneratedDecode = function (reader, length, endGroup, depth, into) {
      if (openContainers >= MAX_NESTING_DEPTH && length !== undefined) {
        // The check the generated decoder makes on entry, then past the content.
        const end = reader.pos + length;
        if (end > reader.len) throw RangeError('index out of range');
        reader.pos = end;
        return into ?? type.create();
      }
      openContainers++;
      try {
        return generated.call(this, reader, length, endGroup, depth, into);
      } finally {
        openContainers--;
      }
    };
    type.decode = decode as unknown as protobuf.Type['decode'];
  }
  return schema;
}
