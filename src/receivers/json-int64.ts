/**
 * OTLP/JSON 64-bit integers written as JSON numbers, read exactly.
 *
 * ProtoJSON writes int64 / fixed64 as strings, and the OTLP specification requires decoders
 * to accept numbers too. `JSON.parse` turns a number into a double, which holds integers
 * exactly only up to 2^53: a timestamp (~1.7e18 ns) loses its last digits, and so do
 * durations and large `intValue`s. Node 20 has no `JSON.parse` source text access (a reviver
 * gets the double, not the digits), and a JavaScript JSON parser is several times slower
 * than the native one, so the few fields concerned are rewritten in the text instead: an
 * integer literal of 16 digits or more (2^53 has 16) given to one of them becomes the same
 * digits in a string, which ProtoJSON reads exactly.
 *
 * String content never matches: the field name must be followed by a quote that is not
 * escaped, then `:`, and inside a string every quote is escaped. (A match can start at an
 * escaped quote only when that quote's string is an object key ending in `"intValue`, an
 * unknown field whose value nobody reads.) Literals with a fraction or an exponent are left
 * alone: they are doubles in any case.
 */

/** An integer literal given to one of the OTLP trace fields of a 64-bit type (either spelling ProtoJSON accepts). */
const INT64_NUMBER =
  /"(?:intValue|int_value|startTimeUnixNano|start_time_unix_nano|endTimeUnixNano|end_time_unix_nano|timeUnixNano|time_unix_nano)"\s*:\s*(-?\d{16,})(?=\s*[,}\]])/g;

/** `text` with such literals quoted; `text` itself when there are none (the usual case: ~0.4 ns per byte). */
export function quoteInt64Numbers(text: string): string {
  INT64_NUMBER.lastIndex = 0;
  let quoted = '';
  let copied = 0;
  for (let match = INT64_NUMBER.exec(text); match !== null; match = INT64_NUMBER.exec(text)) {
    const end = INT64_NUMBER.lastIndex;
    const digits = match[1]!;
    quoted += text.slice(copied, end - digits.length) + '"' + digits + '"';
    copied = end;
  }
  return copied === 0 ? text : quoted + text.slice(copied);
}
