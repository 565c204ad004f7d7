/**
 * The bounds on one attribute list (a resource's, a span's, an event's or a link's) that keep
 * the work and memory per span bounded whatever a client sends, in the spirit of the OTel
 * SDK's span limits: excess entries are dropped and counted, never failing the request.
 *
 * Both decoders (span-row-reader.ts straight off the wire, span-mapper.ts from decoded
 * messages) go through `AttributeList`, so that they keep exactly the same entries.
 */

/** The config's default `receivers.otlp.max_attribute_value_length`. */
export const DEFAULT_MAX_ATTRIBUTE_VALUE_LENGTH = 65_536;

/**
 * The config's default `receivers.otlp.max_attributes_per_span`. The SDKs' 128 is too few for
 * LLM spans: OpenInference and OpenLLMetry flatten every message of a conversation into
 * indexed keys (`llm.input_messages.17.message.content`, `gen_ai.prompt.17.role`, tool calls
 * and their arguments), about 5 to 10 per message, so a long agent run passes 1,000.
 */
export const DEFAULT_MAX_ATTRIBUTES_PER_SPAN = 4096;

/**
 * The config's default `receivers.otlp.max_span_attributes_bytes`: keys plus stored values,
 * UTF-8. Far above a real LLM span (a long conversation is a few hundred kB, and each value
 * is already cut at `max_attribute_value_length`), far below what 4,096 values of 64 Ki
 * characters could add up to.
 */
export const DEFAULT_MAX_SPAN_ATTRIBUTES_BYTES = 4 * 1024 * 1024;

/**
 * Stamped on a span (and a resource) the receiver dropped attributes from: how many, its
 * events' and links' included. The storage schema (the Collector's) has no column for OTLP's
 * `dropped_attributes_count`, and a query must be able to tell a cut span from a whole one.
 */
export const DROPPED_ATTRIBUTES_KEY = 'spanscore.dropped_attributes_count';

/** The limits as the receivers take them (each defaulting as in the config). */
export interface AttributeLimitOptions {
  /** Attribute values longer than this (characters) are cut with a marker. Default 65,536. */
  maxAttributeValueLength?: number;
  /** Attributes kept per list: a span's, an event's, a link's, a resource's. Default 4,096. */
  maxAttributesPerSpan?: number;
  /** UTF-8 bytes of keys and stored values kept per list. Default 4 MiB. */
  maxSpanAttributesBytes?: number;
}

export function receiverLimits(options: AttributeLimitOptions): Required<AttributeLimitOptions> {
  return {
    maxAttributeValueLength: options.maxAttributeValueLength ?? DEFAULT_MAX_ATTRIBUTE_VALUE_LENGTH,
    maxAttributesPerSpan: options.maxAttributesPerSpan ?? DEFAULT_MAX_ATTRIBUTES_PER_SPAN,
    maxSpanAttributesBytes: options.maxSpanAttributesBytes ?? DEFAULT_MAX_SPAN_ATTRIBUTES_BYTES,
  };
}

const hasOwn = Object.hasOwn;

/**
 * One attribute list being turned into a storage map, under the limits.
 *
 * Duplicate keys: the last value wins. pdata keeps every entry of a pcommon.Map; the
 * Collector's clickhouseexporter long turned the map into a Go map by iterating `Range` and
 * assigning, so the last duplicate won (its current `AttributesToMap` sends every entry to
 * ClickHouse's Map column instead, which a JavaScript record cannot hold). kvlist values
 * rendered as JSON follow the same rule (`AsRaw` builds a Go map).
 *
 * Entries are taken in order: the first `maxCount` distinct keys are admitted (later entries
 * of an admitted key replace its value), any other key is dropped without its value being
 * rendered. An admitted entry that would take the list past `maxBytes` (UTF-8 bytes of the
 * keys and stored values) is dropped too, the value already stored for its key staying.
 */
export class AttributeList {
  /** The map being filled. */
  record: Record<string, string> = {};
  /** Entries of this list not stored (since `reset`). */
  dropped = 0;

  private admitted = 0;
  /**
   * 3 bytes per UTF-16 code unit of what is stored, never less than its UTF-8 size, and free
   * to compute (measuring UTF-8 would cost a fifth of decoding a span). While it stays within
   * `maxBytes` the exact size does too; past it, the exact size is measured once and kept.
   */
  private upperBytes = 0;
  /** UTF-8 bytes stored, once `upperBytes` passed the bound (-1 until then). */
  private exactBytes = -1;
  /** Admitted keys whose every value so far was too large to store: rare, hence lazy. */
  private overBytes: Set<string> | undefined;

  constructor(
    private readonly maxCount: number = Infinity,
    private readonly maxBytes: number = Infinity,
  ) {}

  /** Starts a list filling `record` (reused per list: no allocation per span). */
  reset(record: Record<string, string>): void {
    this.record = record;
    this.dropped = 0;
    this.admitted = 0;
    this.upperBytes = 0;
    this.exactBytes = -1;
    this.overBytes = undefined;
  }

  /** Whether an entry with `key` may be stored: when not, it is counted dropped. */
  admits(key: string): boolean {
    if (hasOwn(this.record, key) || (this.overBytes !== undefined && this.overBytes.has(key))) return true;
    if (this.admitted >= this.maxCount) {
      this.dropped++;
      return false;
    }
    this.admitted++;
    return true;
  }

  /** Stores an admitted entry unless it would pass the byte bound; true when stored. */
  store(key: string, value: string): boolean {
    const record = this.record;
    const old = hasOwn(record, key) ? record[key]! : undefined;
    if (this.maxBytes !== Infinity && !this.fits(key, value, old)) {
      this.dropped++;
      if (old === undefined) (this.overBytes ??= new Set()).add(key);
      return false;
    }
    assign(record, key, value);
    return true;
  }

  private fits(key: string, value: string, old: string | undefined): boolean {
    if (this.exactBytes < 0) {
      const upper = this.upperBytes + 3 * (value.length + (old === undefined ? key.length : -old.length));
      if (upper <= this.maxBytes) {
        this.upperBytes = upper;
        return true;
      }
      this.exactBytes = utf8Size(this.record);
    }
    const exact = this.exactBytes + utf8Bytes(value) + (old === undefined ? utf8Bytes(key) : -utf8Bytes(old));
    if (exact > this.maxBytes) return false;
    this.exactBytes = exact;
    return true;
  }
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function utf8Size(record: Record<string, string>): number {
  let bytes = 0;
  for (const key of Object.keys(record)) bytes += utf8Bytes(key) + utf8Bytes(record[key]!);
  return bytes;
}

/** `record[key] = value`, also for the key `__proto__` (which plain assignment would make the prototype). */
export function assign(record: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__') Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}
