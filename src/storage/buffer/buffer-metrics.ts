import { Counter, Gauge, type Registry } from 'prom-client';

/** The durable buffer's metrics, registered in the daemon's registry. */
export class BufferMetrics {
  readonly spans: Gauge;
  readonly bytes: Gauge;
  readonly capacityBytes: Gauge;
  readonly buffering: Gauge;
  readonly written: Counter;
  readonly replayed: Counter;
  readonly refused: Counter;
  readonly dropped: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.spans = new Gauge({ name: 'spanscore_buffer_spans', help: 'Spans in the durable buffer waiting to be replayed into ClickHouse.', registers });
    this.bytes = new Gauge({ name: 'spanscore_buffer_bytes', help: 'Bytes the durable buffer holds on disk.', registers });
    this.capacityBytes = new Gauge({ name: 'spanscore_buffer_capacity_bytes', help: 'storage.clickhouse.buffer.max_size_mib, in bytes.', registers });
    this.buffering = new Gauge({ name: 'spanscore_buffer_buffering', help: '1 while inserts go to the durable buffer (ClickHouse refused or did not answer), 0 otherwise.', registers });
    this.written = new Counter({ name: 'spanscore_buffer_written_spans_total', help: 'Spans acknowledged once written to the durable buffer.', registers });
    this.replayed = new Counter({ name: 'spanscore_buffer_replayed_spans_total', help: 'Spans replayed from the durable buffer into ClickHouse.', registers });
    this.refused = new Counter({ name: 'spanscore_buffer_refused_spans_total', help: 'Spans refused (retryably) because the durable buffer was full.', registers });
    this.dropped = new Counter({
      name: 'spanscore_buffer_dropped_spans_total',
      help: 'Buffered spans given up on: ClickHouse refused their data for good (reason=rejected) or their record was damaged on disk (reason=corrupt).',
      labelNames: ['reason'] as const,
      registers,
    });
  }
}
