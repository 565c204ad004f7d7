import { MAX_NESTING_DEPTH } from './attribute-values.js';
import { spanLocation } from './span-mapper.js';

/**
 * The receivers' bounds applied to a parsed OTLP/JSON request before ProtoJSON reads it, so
 * that what ProtoJSON builds (its objects are most of the cost of OTLP/JSON) is bounded by
 * the limits rather than by the body:
 *
 * - arrays and kvlists nested past `MAX_NESTING_DEPTH` in an attribute value are emptied:
 *   rendered as the depth marker whatever they held, as in protobuf (value-nesting.ts);
 * - entries of an attribute list whose key is not among its first `maxAttributes` distinct
 *   keys are removed and counted: `AttributeList` would drop them unrendered anyway, so the
 *   result is the same (an entry removed here is not checked either: a malformed one past
 *   the limit does not fail the request).
 *
 * Anything not shaped like a request is left alone for ProtoJSON to reject precisely.
 */

/** Attributes removed, by `spanLocation` (a span's own, its events' and its links') and by resource index. */
export interface JsonDropped {
  bySpan?: Map<string, number>;
  byResource?: Map<number, number>;
}

type JsonObject = Record<string, unknown>;

/** Bounds `tree` in place. */
export function boundJsonRequest(tree: JsonObject, maxAttributes: number): JsonDropped {
  const dropped: JsonDropped = {};
  const resourceSpansList = member(tree, 'resourceSpans', 'resource_spans');
  if (!Array.isArray(resourceSpansList)) return dropped;
  for (let r = 0; r < resourceSpansList.length; r++) {
    const resourceSpans: unknown = resourceSpansList[r];
    const resource = member(resourceSpans, 'resource');
    if (isObject(resource)) {
      const count = boundList(resource, maxAttributes);
      if (count > 0) (dropped.byResource ??= new Map()).set(r, count);
    }
    const scopeSpansList = member(resourceSpans, 'scopeSpans', 'scope_spans');
    if (!Array.isArray(scopeSpansList)) continue;
    for (let s = 0; s < scopeSpansList.length; s++) {
      const scopeSpans: unknown = scopeSpansList[s];
      const scope = member(scopeSpans, 'scope');
      if (isObject(scope)) boundList(scope, maxAttributes); // decoded, never stored: nothing to count
      const spans = member(scopeSpans, 'spans');
      if (!Array.isArray(spans)) continue;
      for (let k = 0; k < spans.length; k++) {
        const span: unknown = spans[k];
        if (!isObject(span)) continue;
        let count = boundList(span, maxAttributes);
        for (const field of ['events', 'links']) {
          const parts = span[field];
          if (Array.isArray(parts)) for (const part of parts) if (isObject(part)) count += boundList(part, maxAttributes);
        }
        if (count > 0) (dropped.bySpan ??= new Map()).set(spanLocation(r, s, k), count);
      }
    }
  }
  return dropped;
}

/** Bounds `holder.attributes`; returns the entries removed. */
function boundList(holder: JsonObject, maxAttributes: number): number {
  const list = holder['attributes'];
  if (!Array.isArray(list)) return 0;
  const removed = list.length > maxAttributes ? keepAdmitted(holder, list, maxAttributes) : 0;
  for (const entry of holder['attributes'] as unknown[]) if (isObject(entry)) capValue(entry['value'], 0);
  return removed;
}

/** Keeps the entries of the first `maxAttributes` distinct keys (`AttributeList.admits`); returns how many went. */
function keepAdmitted(holder: JsonObject, list: unknown[], maxAttributes: number): number {
  const admitted = new Set<string>();
  const kept: unknown[] = [];
  for (const entry of list) {
    if (!isObject(entry)) return 0;
    // ProtoJSON reads a missing or null key as ''; any other non-string is its error to report.
    const key = entry['key'] ?? '';
    if (typeof key !== 'string') return 0;
    if (admitted.size < maxAttributes || admitted.has(key)) {
      admitted.add(key);
      kept.push(entry);
    }
  }
  holder['attributes'] = kept;
  return list.length - kept.length;
}

const ARRAY_MEMBERS = ['arrayValue', 'array_value'];
const KVLIST_MEMBERS = ['kvlistValue', 'kvlist_value'];

/** Empties the arrays and kvlists of an AnyValue nested `depth` containers deep, from the cap on. */
function capValue(value: unknown, depth: number): void {
  if (!isObject(value)) return;
  for (const name of ARRAY_MEMBERS) {
    const array = value[name];
    if (!isObject(array)) continue;
    if (depth >= MAX_NESTING_DEPTH) {
      value[name] = {};
      continue;
    }
    const elements = array['values'];
    if (Array.isArray(elements)) for (const element of elements) capValue(element, depth + 1);
  }
  for (const name of KVLIST_MEMBERS) {
    const kvlist = value[name];
    if (!isObject(kvlist)) continue;
    if (depth >= MAX_NESTING_DEPTH) {
      value[name] = {};
      continue;
    }
    const entries = kvlist['values'];
    if (Array.isArray(entries)) for (const entry of entries) if (isObject(entry)) capValue(entry['value'], depth + 1);
  }
}

/** A member by its lowerCamelCase or, failing that, its original proto name. */
export function member(parent: unknown, camel: string, snake = camel): unknown {
  if (!isObject(parent)) return undefined;
  return parent[camel] ?? parent[snake];
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
