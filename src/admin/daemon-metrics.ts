import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric the daemon exports on `/metrics`. One registry per daemon instance, so
 * that tests can run several daemons (or components) in one process without collisions.
 */
export class DaemonMetrics {
  readonly registry = new Registry();

  /** As the Collector's otelcol_receiver_accepted_spans: counted when acknowledged, not when decoded. */
  readonly spansReceived = new Counter({
    name: 'spanscore_receiver_accepted_spans_total',
    help: 'Spans acknowledged to the client (stored, or taken for forwarding without storage).',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });

  readonly spansRejected = new Counter({
    name: 'spanscore_receiver_refused_spans_total',
    help: 'Spans not acknowledged: refused alone (bad ids, empty name; reported in partial_success), or with their decoded request (not stored, retry: storage unavailable, memory limiter, too many pending; or not authorized). A retried request counts again.',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });

  readonly truncatedValues = new Counter({
    name: 'spanscore_receiver_truncated_values_total',
    help: 'Attribute values stored altered: cut at receivers.otlp.max_attribute_value_length, or arrays/kvlists nested too deep to render.',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });

  readonly droppedAttributes = new Counter({
    name: 'spanscore_receiver_dropped_attributes_total',
    help: 'Attributes not stored: past receivers.otlp.max_attributes_per_span or max_span_attributes_bytes in their list (span, event, link or resource).',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });

  readonly requests = new Counter({
    name: 'spanscore_receiver_requests_total',
    help: 'OTLP export requests by transport and response status (HTTP code or gRPC status name).',
    labelNames: ['transport', 'status'] as const,
    registers: [this.registry],
  });

  readonly spansStored = new Counter({
    name: 'spanscore_storage_stored_spans_total',
    help: 'Received spans acknowledged after ClickHouse stored them.',
    registers: [this.registry],
  });

  readonly insertBatchRows = new Histogram({
    name: 'spanscore_storage_insert_batch_rows',
    help: 'Rows per ClickHouse insert (group commit batch size).',
    labelNames: ['table'] as const,
    buckets: [1, 10, 100, 500, 1000, 5000, 10000, 50000],
    registers: [this.registry],
  });

  readonly insertDuration = new Histogram({
    name: 'spanscore_storage_insert_duration_seconds',
    help: 'ClickHouse insert latency.',
    labelNames: ['table', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly scoringQueueDepth = new Gauge({
    name: 'spanscore_scoring_queue_depth',
    help: 'Scoring tasks waiting, by queue: `workers` (built-ins and modules) or `llm:<scorer>` (one per LLM / autoevals scorer).',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });

  readonly scores = new Counter({
    name: 'spanscore_scores_total',
    help: 'Scores produced, by scorer and outcome (ok | error).',
    labelNames: ['scorer', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly scoringShed = new Counter({
    name: 'spanscore_scoring_shed_total',
    help: 'Scoring tasks dropped: queue full (tasks, or their memory past memory_limiter.scoring_limit_mib), memory above the soft limit, or left at the shutdown deadline. Recovery scores them later.',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  });

  readonly llmTokens = new Counter({
    name: 'spanscore_llm_tokens_total',
    help: 'Tokens used by LLM scorers, by scorer, model and type (input | output).',
    labelNames: ['scorer', 'model', 'type'] as const,
    registers: [this.registry],
  });

  readonly llmCost = new Counter({
    name: 'spanscore_llm_cost_usd_total',
    help: 'Cost of LLM scorer calls in USD, from scoring.llm_prices (models without a price are not counted).',
    labelNames: ['scorer', 'model'] as const,
    registers: [this.registry],
  });

  readonly llmCalls = new Counter({
    name: 'spanscore_llm_calls_total',
    help: 'LLM scorer calls by outcome: ok, or the failure (auth, not_found, retries_exhausted, client_error, bad_response, timeout, ...).',
    labelNames: ['scorer', 'model', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly scorerState = new Gauge({
    name: 'spanscore_scorer_state',
    help: 'LLM scorer state: 1 for the current state (active | paused | over budget), 0 for the others.',
    labelNames: ['scorer', 'state'] as const,
    registers: [this.registry],
  });

  readonly scorerSpentToday = new Gauge({
    name: 'spanscore_scorer_spent_today_usd',
    help: 'USD spent by an LLM scorer since the start of the UTC day.',
    labelNames: ['scorer'] as const,
    registers: [this.registry],
  });

  readonly scorerSkipped = new Counter({
    name: 'spanscore_scorer_skipped_total',
    help: 'Scorer tasks not run because the scorer was paused or over budget, by reason.',
    labelNames: ['scorer', 'reason'] as const,
    registers: [this.registry],
  });

  readonly scoringHeldBytes = new Gauge({
    name: 'spanscore_scoring_held_bytes',
    help: 'Estimated memory of the scoring tasks queued and being scored (their spans and arguments); past memory_limiter.scoring_limit_mib new tasks are shed.',
    registers: [this.registry],
  });

  readonly scoringRecoveryBacklog = new Gauge({
    name: 'spanscore_scoring_recovery_backlog_spans',
    help: 'Selected spans lacking some of their scores that the last scoring recovery sweep found (all rules; spans larger than a page left out).',
    registers: [this.registry],
  });

  readonly scoringRecoveredSpans = new Counter({
    name: 'spanscore_scoring_recovered_spans_total',
    help: 'Spans scored by scoring recovery: every recovered task of the span done, at least one scored.',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  });

  readonly scoringRecoverySkipped = new Counter({
    name: 'spanscore_scoring_recovery_skipped_spans_total',
    help: 'Selected spans lacking scores that scoring recovery does not score, by reason (too_big: larger than scoring.recovery.page_mib); each counted once per process.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly scoreWriteFailures = new Counter({
    name: 'spanscore_scoring_write_failures_total',
    help: 'Score rows that could not be written to ClickHouse after retries.',
    registers: [this.registry],
  });

  readonly memoryLimiterRss = new Gauge({
    name: 'spanscore_memory_limiter_rss_bytes',
    help: 'Resident set size of the daemon process (ClickHouse embedded and scorer threads included) at the last memory limiter check.',
    registers: [this.registry],
  });

  readonly memoryLimiterState = new Gauge({
    name: 'spanscore_memory_limiter_state',
    help: 'Memory limiter state: 1 for the current state (ok | soft | hard), 0 for the others.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  readonly memoryLimiterRefusedSpans = new Counter({
    name: 'spanscore_memory_limiter_refused_spans_total',
    help: 'Spans refused with a retryable status (HTTP 503 / gRPC UNAVAILABLE) by the memory limiter: RSS above the soft or hard limit, or too much already in flight.',
    registers: [this.registry],
  });

  readonly memoryLimiterRefusedRequests = new Counter({
    name: 'spanscore_memory_limiter_refused_requests_total',
    help: 'Export requests refused before they were read (memory above the soft or hard limit); their spans are not in refused_spans_total.',
    registers: [this.registry],
  });

  readonly pipelinePendingSpans = new Gauge({
    name: 'spanscore_pipeline_pending_spans',
    help: 'Spans of export requests waiting for their ClickHouse insert (held in memory until acknowledged).',
    registers: [this.registry],
  });

  readonly pipelineRefusedSpans = new Counter({
    name: 'spanscore_pipeline_refused_spans_total',
    help: 'Spans refused with a retryable status because too many spans were already waiting for ClickHouse.',
    registers: [this.registry],
  });

  /** Exporter metrics are labelled by exporter (`otlp/<name>`) and kind (`received` | `scoring`), as the Collector's otelcol_exporter_*. */
  readonly exporterSentSpans = new Counter({
    name: 'spanscore_exporter_sent_spans_total',
    help: 'Spans an OTLP exporter delivered downstream (the downstream acknowledged them).',
    labelNames: ['exporter', 'kind'] as const,
    registers: [this.registry],
  });

  readonly exporterShedSpans = new Counter({
    name: 'spanscore_exporter_shed_spans_total',
    help: 'Spans an OTLP exporter dropped without sending because its sending queue was full (downstream down or slow).',
    labelNames: ['exporter', 'kind'] as const,
    registers: [this.registry],
  });

  readonly exporterFailedSpans = new Counter({
    name: 'spanscore_exporter_send_failed_spans_total',
    help: 'Spans an OTLP exporter gave up on: refused by the downstream (not retryable), retries exhausted, or left at shutdown.',
    labelNames: ['exporter', 'kind', 'reason'] as const,
    registers: [this.registry],
  });

  readonly exporterRetries = new Counter({
    name: 'spanscore_exporter_retries_total',
    help: 'Export requests sent again after a retryable failure.',
    labelNames: ['exporter'] as const,
    registers: [this.registry],
  });

  readonly exporterQueueRequests = new Gauge({
    name: 'spanscore_exporter_queue_size',
    help: 'Requests waiting in (or being sent from) an OTLP exporter\'s sending queue.',
    labelNames: ['exporter'] as const,
    registers: [this.registry],
  });

  readonly exporterQueueBytes = new Gauge({
    name: 'spanscore_exporter_queue_bytes',
    help: 'Bytes held by an OTLP exporter\'s sending queue.',
    labelNames: ['exporter'] as const,
    registers: [this.registry],
  });

  readonly exporterQueueCapacity = new Gauge({
    name: 'spanscore_exporter_queue_capacity',
    help: 'Requests an OTLP exporter\'s sending queue holds at most (queue_size).',
    labelNames: ['exporter'] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: 'spanscore_' });
    }
  }
}
