/** Takes the attributes whose key starts with `prefix`, as a scan meets them. */
export interface PrefixSink {
  readonly prefix: string;
  take(key: string, text: string): void;
}

/**
 * Hands every attribute to the sinks whose prefix its key starts with, in ONE pass over the
 * keys. Enumerating a large attribute map is the expensive part (V8 sorts a dictionary-mode
 * object's keys on every enumeration), so all the fields of a span are read from the same
 * pass rather than one pass per convention key; the cost is linear in the attributes, times
 * the (configured, few) prefixes.
 */
export function scanPrefixes(attributes: Record<string, string>, sinks: readonly PrefixSink[]): void {
  if (sinks.length === 0) return;
  for (const key of Object.keys(attributes)) {
    for (const sink of sinks) {
      if (key.startsWith(sink.prefix)) sink.take(key, attributes[key]!);
    }
  }
}
