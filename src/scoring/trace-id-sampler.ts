const RANDOMNESS_HEX_DIGITS = 14; // 56 bits
const HALF_BITS = 28;
const HALF_HEX_DIGITS = 7;
const HALF_MASK = (1n << BigInt(HALF_BITS)) - 1n;
const TWO_POW_56 = 1n << 56n;

/**
 * Decides whether a trace is scored by a rule, from the trace id alone, so that every
 * replica and every restart makes the same decision and a trace is scored whole or not at all.
 *
 * Same scheme as W3C Trace Context level 2 (random trace-id flag) and OpenTelemetry's
 * consistent probability sampling (OTEP 235, the Collector's proportional sampler): the low
 * 56 bits of the trace id are the randomness R, the rule's rate p becomes the rejection
 * threshold T = round((1 - p) * 2^56), and a trace is sampled iff R >= T. Because T only
 * falls as p grows, a trace sampled at rate p is also sampled by every rule with a higher
 * rate, so rules at different rates score nested sets of traces.
 *
 * R does not fit a double (53 bits), and BigInt parsing allocates, so R and T are compared
 * as two 28-bit halves: two `parseInt`s and two integer compares per decision.
 */
export class TraceIdSampler {
  readonly probability: number;
  readonly #always: boolean;
  readonly #never: boolean;
  readonly #thresholdHigh: number;
  readonly #thresholdLow: number;

  constructor(probability: number) {
    if (!Number.isFinite(probability) || probability < 0 || probability > 1) {
      throw new RangeError(`sampling probability must be in 0..1, got ${probability}`);
    }
    this.probability = probability;
    const threshold = TraceIdSampler.thresholdFor(probability);
    this.#always = threshold === 0n;
    this.#never = threshold >= TWO_POW_56;
    this.#thresholdHigh = Number(threshold >> BigInt(HALF_BITS));
    this.#thresholdLow = Number(threshold & HALF_MASK);
  }

  /** T = round((1 - p) * 2^56), as OTEP 235 defines the rejection threshold. */
  static thresholdFor(probability: number): bigint {
    // 2^56 is a power of two, so the product only scales the exponent of (1 - p): exact.
    return BigInt(Math.round((1 - probability) * 2 ** 56));
  }

  /** The trace's 56-bit randomness R (low 14 hex digits), or undefined for a malformed id. */
  static randomnessOf(traceId: string): bigint | undefined {
    const tail = traceId.slice(-RANDOMNESS_HEX_DIGITS);
    if (tail.length !== RANDOMNESS_HEX_DIGITS || !/^[0-9a-fA-F]+$/.test(tail)) return undefined;
    return BigInt(`0x${tail}`);
  }

  /** True when the trace is in the sample. A malformed id is sampled only when p = 1. */
  shouldSample(traceId: string): boolean {
    if (this.#always) return true;
    if (this.#never) return false;
    const length = traceId.length;
    if (length < RANDOMNESS_HEX_DIGITS) return false;
    const high = parseHexDigits(traceId, length - RANDOMNESS_HEX_DIGITS, length - HALF_HEX_DIGITS);
    const low = parseHexDigits(traceId, length - HALF_HEX_DIGITS, length);
    if (Number.isNaN(low)) return false;
    // A NaN high half (malformed id) differs from every threshold and exceeds none.
    if (high !== this.#thresholdHigh) return high > this.#thresholdHigh;
    return low >= this.#thresholdLow;
  }
}

// parseInt stops at the first non-hex digit instead of failing, so a malformed id could
// otherwise be read as a smaller number; NaN makes every comparison false.
function parseHexDigits(text: string, start: number, end: number): number {
  let value = 0;
  for (let index = start; index < end; index++) {
    const code = text.charCodeAt(index);
    let digit: number;
    if (code >= 48 && code <= 57) digit = code - 48; // 0-9
    else if (code >= 97 && code <= 102) digit = code - 87; // a-f
    else if (code >= 65 && code <= 70) digit = code - 55; // A-F
    else return Number.NaN;
    value = value * 16 + digit;
  }
  return value;
}
