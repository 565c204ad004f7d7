import http2 from 'node:http2';
import protobuf from 'protobufjs';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';
import { spanObject } from './receiver-test-kit.js';

/** Requests no SDK would send, for the hostile-input tests. */

const lengthDelimited = (field: number, bytes: Uint8Array): Uint8Array =>
  protobuf.Writer.create().uint32((field << 3) | 2).bytes(bytes).finish();

function spanBytes(): Uint8Array {
  const spanType = otlpSchema().root.lookupType('opentelemetry.proto.trace.v1.Span');
  return spanType.encode(spanType.fromObject(spanObject({ name: 'bomb' }))).finish();
}

/**
 * A one-span protobuf request whose attribute value is `levels` kvlists nested in each
 * other (AnyValue.kvlist_value → KeyValueList.values → KeyValue.value → ...), built from
 * the inside out as bytes: no encoder would write it (protobufjs refuses past 100 messages).
 */
export function protobufDepthBomb(levels: number): Buffer {
  // Each level is AnyValue{6: KeyValueList{1: KeyValue{2: <next level>}}}: three tags and
  // three lengths in front, nothing behind. Sizes are computed inside out, then the prefixes
  // written outside in (nesting by concatenation would copy the whole thing per level).
  const prefixes: Buffer[] = [];
  let size = 0;
  for (let i = 0; i < levels; i++) {
    const keyValue = protobuf.Writer.create().uint32((2 << 3) | 2).uint32(size).finish();
    const keyValueSize = keyValue.length + size;
    const list = protobuf.Writer.create().uint32((1 << 3) | 2).uint32(keyValueSize).finish();
    const listSize = list.length + keyValueSize;
    const anyValue = protobuf.Writer.create().uint32((6 << 3) | 2).uint32(listSize).finish();
    size = anyValue.length + listSize;
    prefixes.push(Buffer.concat([anyValue, list, keyValue]));
  }
  const nested = Buffer.concat(prefixes.reverse());
  const keyValue = Buffer.concat([protobuf.Writer.create().uint32((1 << 3) | 2).string('deep').finish(), lengthDelimited(2, nested)]);
  const span = Buffer.concat([spanBytes(), lengthDelimited(9, keyValue)]);
  return Buffer.from(lengthDelimited(1, lengthDelimited(2, lengthDelimited(2, span))));
}

/** The OTLP/JSON twin of `protobufDepthBomb`. */
export function jsonDepthBomb(levels: number): string {
  const open = '{"kvlistValue":{"values":[{"key":"k","value":';
  const close = '}]}}';
  const value = open.repeat(levels) + '{"stringValue":"core"}' + close.repeat(levels);
  return (
    '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",' +
    `"name":"bomb","attributes":[{"key":"deep","value":${value}}]}]}]}]}`
  );
}

/**
 * Offset of the first length prefix (the one of `resource_spans`, right after its tag byte).
 * Rewriting it makes the prefix disagree with the bytes that follow.
 */
export function withFirstLengthPrefix(request: Buffer, length: number): Buffer {
  if (request[0] !== 0x0a) throw new Error('expected resource_spans (field 1, length-delimited) first');
  const reader = protobuf.Reader.create(request.subarray(1));
  reader.uint32();
  const rest = request.subarray(1 + reader.pos);
  return Buffer.concat([Buffer.from([0x0a]), protobuf.Writer.create().uint32(length).finish(), rest]);
}

export interface RawGrpcAnswer {
  /** The call's status and message, from the trailers (or the headers of a trailers-only answer). */
  grpcStatus: number | undefined;
  grpcMessage: string;
  httpStatus: number | undefined;
}

/**
 * One gRPC call sent frame by frame over HTTP/2, so that its 5-byte message prefix (flag,
 * 32-bit length) can lie about the bytes that follow.
 */
export function rawGrpcCall(address: string, frameBytes: Buffer): Promise<RawGrpcAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on('error', reject);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const answer: RawGrpcAnswer = { grpcStatus: undefined, grpcMessage: '', httpStatus: undefined };
    const take = (headers: http2.IncomingHttpHeaders) => {
      if (headers['grpc-status'] !== undefined) answer.grpcStatus = Number(headers['grpc-status']);
      if (typeof headers['grpc-message'] === 'string') answer.grpcMessage = decodeURIComponent(headers['grpc-message']);
    };
    stream.on('response', (headers) => {
      answer.httpStatus = Number(headers[':status']);
      take(headers);
    });
    stream.on('trailers', take);
    stream.on('data', () => undefined);
    stream.on('error', reject);
    stream.on('close', () => {
      session.close();
      resolve(answer);
    });
    stream.end(frameBytes);
  });
}

/** The gRPC length-prefixed message framing: [compressed flag][uint32 BE length][message]. */
export function grpcFrame(message: Buffer, declaredLength = message.length, compressedFlag = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressedFlag;
  prefix.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([prefix, message]);
}
