import { INVALID_SPAN_CONTEXT, SpanStatusCode, context as otelContext, trace, type Context, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';

/**
 * The tracer of the daemon's own work (self-telemetry). It hands every call to a delegate that
 * SelfTelemetry sets while it runs; without one, every span is the same shared non-recording
 * span, so instrumented code costs a call and a branch. No global TracerProvider is involved:
 * the API's global can be set once per process only, and libraries or user modules loaded
 * into the daemon must not start recording into spanscore's exporter (nor spanscore into
 * theirs).
 *
 * Instrumented code checks `span.isRecording()` before building attributes that cost anything,
 * and must never let telemetry throw into the pipeline: the tracer catches what the delegate
 * throws and answers with the no-op span.
 */
class SwitchableTracer implements Tracer {
  #delegate: Tracer | undefined;

  get delegate(): Tracer | undefined {
    return this.#delegate;
  }

  set delegate(tracer: Tracer | undefined) {
    this.#delegate = tracer;
  }

  startSpan(name: string, options?: SpanOptions, context?: Context): Span {
    const delegate = this.#delegate;
    if (delegate === undefined) return NOOP_SPAN;
    try {
      return delegate.startSpan(name, options, context);
    } catch {
      return NOOP_SPAN;
    }
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, context: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: [F] | [SpanOptions, F] | [SpanOptions, Context, F]): ReturnType<F> {
    const fn = rest[rest.length - 1] as (span: Span) => ReturnType<F>;
    const options = rest.length > 1 ? (rest[0] as SpanOptions) : undefined;
    const parent = rest.length > 2 ? (rest[1] as Context) : otelContext.active();
    // Same as the SDK's: the span is made active for `fn` (which matters only where a context
    // manager is installed; spanscore installs none).
    const span = this.startSpan(name, options, parent);
    return otelContext.with(trace.setSpan(parent, span), fn, undefined, span);
  }
}

/** What every span is while self-telemetry is off: records nothing, every method a no-op. */
const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

const switchable = new SwitchableTracer();

/** The tracer every instrumented component uses. A no-op until SelfTelemetry starts. */
export const selfTracer: Tracer = switchable;

/** Makes `selfTracer` record through `tracer` (SelfTelemetry.start). */
export function setSelfTracerDelegate(tracer: Tracer): void {
  switchable.delegate = tracer;
}

/** Back to no-op, if `tracer` is still the delegate (a newer SelfTelemetry may have replaced it). */
export function clearSelfTracerDelegate(tracer: Tracer): void {
  if (switchable.delegate === tracer) switchable.delegate = undefined;
}

/** Whether spans are being sent anywhere (SelfTelemetry running). */
export function selfTelemetryActive(): boolean {
  return switchable.delegate !== undefined;
}

/**
 * Marks the span failed with the error's message and `error.type`. `type` overrides the
 * error's class name when a lower-cardinality kind is at hand (e.g. an LLM call's failure).
 */
export function setSpanError(span: Span, error: unknown, type?: string): void {
  if (!span.isRecording()) return;
  const message = error instanceof Error ? error.message : String(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.setAttribute('error.type', type ?? (error instanceof Error ? error.name : 'Error'));
}
