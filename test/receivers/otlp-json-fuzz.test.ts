import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJson, decodeProtobuf } from '../../src/receivers/otlp-decoder.js';
import { encodeObject, expectDecodedOrRefused, FUZZ_SEED, FUZZ_VALUE_LIMIT, requestObjects, toOtlpJson } from './otlp-fuzz-arbitraries.js';

/**
 * The OTLP/JSON decoder (UTF-8 check, JSON.parse, hex ids, ProtoJSON, mapping) against
 * generated input: never a crash or a hang, every refusal a DecodeError (HTTP 400), every
 * accepted request mapped into rows the storage can take. 13,000 inputs in all, seeded.
 */
const options = { maxAttributeValueLength: FUZZ_VALUE_LIMIT };
const decode = (body: Uint8Array | string) => () => decodeJson(typeof body === 'string' ? Buffer.from(body, 'utf8') : body, options);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Up to `limit` paths into a JSON tree, found breadth first (no recursion). */
function pathsOf(tree: Json, limit = 400): (string | number)[][] {
  const paths: (string | number)[][] = [];
  const queue: { node: Json; path: (string | number)[] }[] = [{ node: tree, path: [] }];
  while (queue.length > 0 && paths.length < limit) {
    const { node, path } = queue.shift()!;
    paths.push(path);
    if (Array.isArray(node)) node.forEach((child, i) => queue.push({ node: child, path: [...path, i] }));
    else if (node !== null && typeof node === 'object') for (const [key, child] of Object.entries(node)) queue.push({ node: child, path: [...path, key] });
  }
  return paths;
}

type TreeEdit = { op: 'replace'; value: Json } | { op: 'delete' } | { op: 'wrap' } | { op: 'stringify' };

const treeEdits: fc.Arbitrary<TreeEdit> = fc.oneof(
  fc.record({ op: fc.constant('replace' as const), value: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> }),
  fc.record({ op: fc.constant('delete' as const) }),
  fc.record({ op: fc.constant('wrap' as const) }),
  fc.record({ op: fc.constant('stringify' as const) }),
);

/** Applies an edit at a path of `tree` (in place; the root is replaced by returning a new tree). */
function editAt(tree: Json, path: (string | number)[], edit: TreeEdit): Json {
  const current = path.reduce<Json>((node, key) => (node as Record<string | number, Json>)[key]!, tree);
  const next: Json | undefined =
    edit.op === 'replace' ? edit.value : edit.op === 'delete' ? undefined : edit.op === 'wrap' ? [current] : typeof current === 'string' ? Number(current) || current.length : JSON.stringify(current);
  if (path.length === 0) return next ?? null;
  const parent = path.slice(0, -1).reduce<Json>((node, key) => (node as Record<string | number, Json>)[key]!, tree) as Record<string | number, Json> | Json[];
  const key = path[path.length - 1]!;
  if (next === undefined) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else {
    (parent as Record<string | number, Json>)[key] = next;
  }
  return tree;
}

const fraction = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

describe('OTLP/JSON decoder fuzzing', () => {
  it('maps generated requests exactly like their protobuf encoding (2,000)', () => {
    fc.assert(
      fc.property(requestObjects('well-formed'), (request) => {
        const fromJson = decodeJson(Buffer.from(toOtlpJson(request)), options);
        const fromProtobuf = decodeProtobuf(encodeObject(request), options);
        expect(fromJson).toEqual(fromProtobuf);
      }),
      { seed: FUZZ_SEED, numRuns: 2000 },
    );
  });

  it('keeps exactly the attributes the protobuf decoder keeps under tight attribute limits (1,000)', () => {
    const limits = fc.record({ maxAttributesPerSpan: fc.integer({ min: 0, max: 4 }), maxSpanAttributesBytes: fc.integer({ min: 0, max: 60 }) });
    let dropped = 0;
    fc.assert(
      fc.property(requestObjects('well-formed'), limits, (request, limit) => {
        const limited = { ...options, ...limit };
        const fromJson = decodeJson(Buffer.from(toOtlpJson(request)), limited);
        expect(fromJson).toEqual(decodeProtobuf(encodeObject(request), limited));
        dropped += fromJson.droppedAttributes;
      }),
      { seed: FUZZ_SEED, numRuns: 1000 },
    );
    expect(dropped).toBeGreaterThan(200);
  });

  it('strings with lone surrogates (escaped in JSON) are accepted and stored as valid Unicode (1,000)', () => {
    fc.assert(
      fc.property(requestObjects('any'), (request) => {
        expect(expectDecodedOrRefused(decode(toOtlpJson(request)))).toBe('accepted');
      }),
      { seed: FUZZ_SEED, numRuns: 1000 },
    );
  });

  it('random JSON values (2,000) are mapped or refused with DecodeError', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        expectDecodedOrRefused(decode(JSON.stringify(value)));
      }),
      { seed: FUZZ_SEED, numRuns: 2000 },
    );
  });

  it('valid requests with edited subtrees (4,000: replaced by random JSON, deleted, wrapped, retyped)', () => {
    const outcomes = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(requestObjects(), fc.array(fc.tuple(fraction, treeEdits), { minLength: 1, maxLength: 3 }), (request, edits) => {
        let tree = JSON.parse(toOtlpJson(request)) as Json;
        for (const [where, edit] of edits) {
          const paths = pathsOf(tree);
          tree = editAt(tree, paths[Math.floor(where * paths.length)]!, edit);
        }
        outcomes[expectDecodedOrRefused(decode(JSON.stringify(tree)))]++;
      }),
      { seed: FUZZ_SEED, numRuns: 4000 },
    );
    expect(outcomes.accepted).toBeGreaterThan(200);
    expect(outcomes.refused).toBeGreaterThan(400);
  });

  it('valid requests with text edits (2,000: truncated, characters inserted, deleted, replaced)', () => {
    fc.assert(
      fc.property(requestObjects(), fraction, fc.constantFrom('truncate', 'insert', 'delete', 'replace'), fc.string({ minLength: 1, maxLength: 3, unit: 'binary' }), (request, where, op, chars) => {
        const json = toOtlpJson(request);
        const at = Math.floor(where * json.length);
        const edited =
          op === 'truncate' ? json.slice(0, at) : op === 'insert' ? json.slice(0, at) + chars + json.slice(at) : op === 'delete' ? json.slice(0, at) + json.slice(at + chars.length) : json.slice(0, at) + chars + json.slice(at + chars.length);
        expectDecodedOrRefused(decode(edited));
      }),
      { seed: FUZZ_SEED, numRuns: 2000 },
    );
  });

  it('random bytes and valid requests with bytes that are not UTF-8 (1,000) are refused with DecodeError or mapped', () => {
    fc.assert(
      fc.property(requestObjects(), fraction, fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.uint8Array({ maxLength: 64 }), (request, where, inserted, random) => {
        const json = Buffer.from(toOtlpJson(request));
        const at = Math.floor(where * json.length);
        const withBytes = Buffer.concat([json.subarray(0, at), Buffer.from(inserted).fill(0xff, 0, 1), json.subarray(at)]);
        expect(expectDecodedOrRefused(decode(withBytes))).toBe('refused'); // 0xff is never UTF-8
        expectDecodedOrRefused(decode(random));
      }),
      { seed: FUZZ_SEED, numRuns: 1000 },
    );
  });
});
