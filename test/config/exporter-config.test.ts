import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/config-loader.js';
import type { SpanscoreConfig } from '../../src/config/spanscore-config.js';
import { issuesOf, minimal } from './config-test-kit.js';

/** A config text, one array item per line (so that line N of the file is `lines[N - 1]`). */
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

const parse = (text: string): SpanscoreConfig => parseConfigText(text, 'spanscore.yaml', {});

/** Receivers on fixed ports, for the loop checks. */
const fixedReceivers = [
  'receivers:', //                                  1
  '  otlp:', //                                     2
  '    protocols:', //                              3
  '      grpc: { endpoint: 127.0.0.1:14317 }', //   4
  '      http: { endpoint: 127.0.0.1:14318 }', //   5
];

const aRule = ['rules:', '  - name: r', '    scorers: [ExactMatch]'];

describe('exporters.otlp*', () => {
  it('applies the Collector defaults to an exporter with only an endpoint', () => {
    const config = parse(`${minimal}exporters:\n  otlp:\n    endpoint: tempo:4317\n`);
    expect(config.exporters).toEqual([
      {
        name: 'otlp',
        protocol: 'grpc',
        endpoint: 'tempo:4317',
        forwardReceived: true,
        forwardScoring: true,
        headers: {},
        compression: 'gzip',
        timeoutMs: 10_000,
        tls: { insecure: false, insecureSkipVerify: false },
        retry: { enabled: true, initialIntervalMs: 5_000, maxIntervalMs: 30_000, maxElapsedMs: 300_000, multiplier: 1.5, randomizationFactor: 0.5 },
        queue: { enabled: true, numConsumers: 10, maxRequests: 1_000, maxBytes: 64 * 1024 * 1024 },
      },
    ]);
    // Absent, as before: no exporters, no self-telemetry.
    const plain = parse(minimal);
    expect(plain.exporters).toEqual([]);
    expect(plain.service.telemetry).toBeUndefined();
  });

  it('takes every key, durations as strings and TLS paths made absolute', () => {
    const config = parse(
      `${minimal}${yaml(
        'exporters:',
        '  otlp/vendor:',
        '    endpoint: https://otlp.vendor.example',
        '    protocol: http/json',
        '    forward: scoring',
        '    headers: { authorization: "Bearer abc", x-team: llm }',
        '    compression: none',
        '    timeout: 2s',
        '    tls:',
        '      insecure_skip_verify: true',
        '      ca_file: certs/ca.pem',
        '      cert_file: certs/client.pem',
        '      key_file: certs/client-key.pem',
        '      server_name_override: otlp.internal',
        '    retry_on_failure: { enabled: false, initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0, multiplier: 2, randomization_factor: 0 }',
        '    sending_queue: { enabled: false, num_consumers: 2, queue_size: 50, queue_size_mib: 0.5 }',
      )}`,
    );
    expect(config.exporters).toEqual([
      {
        name: 'otlp/vendor',
        protocol: 'http/json',
        endpoint: 'https://otlp.vendor.example/v1/traces',
        forwardReceived: false,
        forwardScoring: true,
        headers: { authorization: 'Bearer abc', 'x-team': 'llm' },
        compression: 'none',
        timeoutMs: 2_000,
        tls: {
          insecure: false,
          insecureSkipVerify: true,
          caFile: join(process.cwd(), 'certs/ca.pem'),
          certFile: join(process.cwd(), 'certs/client.pem'),
          keyFile: join(process.cwd(), 'certs/client-key.pem'),
          serverNameOverride: 'otlp.internal',
        },
        retry: { enabled: false, initialIntervalMs: 100, maxIntervalMs: 1_000, maxElapsedMs: 0, multiplier: 2, randomizationFactor: 0 },
        queue: { enabled: false, numConsumers: 2, maxRequests: 50, maxBytes: 512 * 1024 },
      },
    ]);
    const received = parse(`${minimal}exporters:\n  otlp:\n    endpoint: tempo:4317\n    forward: received\n`);
    expect(received.exporters[0]).toMatchObject({ forwardReceived: true, forwardScoring: false });
  });

  it('appends /v1/traces to HTTP endpoints (after any base path, trailing slash or not) and takes traces_endpoint as is', () => {
    const config = parse(
      `${minimal}${yaml(
        'exporters:',
        '  otlp/a:',
        '    endpoint: http://collector:4318',
        '    protocol: http/protobuf',
        '  otlp/b:',
        '    endpoint: https://collector:4318/',
        '    protocol: http/protobuf',
        '  otlp/c:',
        '    endpoint: https://gateway.example/otlp/',
        '    protocol: http/json',
        '  otlp/d:',
        '    endpoint: https://unused.example',
        '    traces_endpoint: https://vendor.example/api/v2/spans',
        '    protocol: http/protobuf',
      )}`,
    );
    expect(config.exporters.map((e) => [e.name, e.endpoint, e.tls.insecure])).toEqual([
      ['otlp/a', 'http://collector:4318/v1/traces', true],
      ['otlp/b', 'https://collector:4318/v1/traces', false],
      ['otlp/c', 'https://gateway.example/otlp/v1/traces', false],
      ['otlp/d', 'https://vendor.example/api/v2/spans', false],
    ]);
  });

  it('keeps gRPC endpoints as host:port, an http:// scheme meaning plaintext and https:// TLS', () => {
    const config = parse(
      `${minimal}${yaml(
        'exporters:',
        '  otlp/plain:',
        '    endpoint: http://tempo:4317',
        '  otlp/tls:',
        '    endpoint: https://tempo.example:443/',
        '  otlp/bare:',
        '    endpoint: tempo:4317',
        '  otlp/insecure:',
        '    endpoint: tempo:4317',
        '    tls: { insecure: true }',
        '  otlp/v6:',
        '    endpoint: "[2001:db8::1]:4317"',
      )}`,
    );
    expect(config.exporters.map((e) => [e.name, e.endpoint, e.tls.insecure])).toEqual([
      ['otlp/plain', 'tempo:4317', true],
      ['otlp/tls', 'tempo.example:443', false],
      ['otlp/bare', 'tempo:4317', false],
      ['otlp/insecure', 'tempo:4317', true],
      ['otlp/v6', '[2001:db8::1]:4317', false],
    ]);
  });

  it('names bad endpoints with their key path and line', () => {
    const issues = issuesOf(
      `${minimal}${yaml(
        'exporters:', //                        6
        '  otlp/noport:', //                    7
        '    endpoint: tempo', //               8
        '  otlp/path:', //                      9
        '    endpoint: http://tempo:4317/x', // 10
        '  otlp/http:', //                      11
        '    endpoint: not a url', //           12
        '    protocol: http/protobuf', //       13
        '  otlp/ftp:', //                       14
        '    endpoint: ftp://files:21', //      15
        '    protocol: http/json', //           16
        '  otlp/grpcpath:', //                  17
        '    endpoint: tempo:4317', //          18
        '    traces_endpoint: https://tempo.example/v1/traces', // 19
        '  otlp/contradiction:', //             20
        '    endpoint: https://tempo:4317', //  21
        '    tls: { insecure: true }', //       22
      )}`,
    );
    expect(issues).toContainEqual(
      expect.objectContaining({ path: 'exporters.otlp/noport.endpoint', line: 8, message: expect.stringContaining('must be host:port (or http(s)://host:port) for gRPC, got "tempo"') }),
    );
    expect(issues).toContainEqual(expect.objectContaining({ path: 'exporters.otlp/path.endpoint', line: 10, message: expect.stringContaining('must be host:port') }));
    expect(issues).toContainEqual(
      expect.objectContaining({ path: 'exporters.otlp/http.endpoint', line: 12, message: expect.stringContaining('must be an http:// or https:// URL for http/protobuf, got "not a url"') }),
    );
    expect(issues).toContainEqual(expect.objectContaining({ path: 'exporters.otlp/ftp.endpoint', line: 15, message: expect.stringContaining('http:// or https:// URL for http/json') }));
    expect(issues).toContainEqual(
      expect.objectContaining({ path: 'exporters.otlp/grpcpath.traces_endpoint', line: 19, message: expect.stringContaining('`traces_endpoint` is for the HTTP protocols') }),
    );
    expect(issues).toContainEqual(expect.objectContaining({ path: 'exporters.otlp/contradiction.endpoint', line: 21, message: expect.stringContaining('contradicts itself') }));
    expect(issues).toHaveLength(6);

    const badUrl = issuesOf(`${minimal}exporters:\n  otlp:\n    endpoint: x\n    protocol: http/protobuf\n    traces_endpoint: ftp://x/v1/traces\n`);
    expect(badUrl).toEqual([expect.objectContaining({ path: 'exporters.otlp.traces_endpoint', line: 10, message: 'must be an http:// or https:// URL' })]);
  });

  it('refuses unknown keys and values outside the enums, naming each with its line', () => {
    const issues = issuesOf(
      `${minimal}${yaml(
        'exporters:', //                                         6
        '  otlp:', //                                            7
        '    endpoint: tempo:4317', //                           8
        '    endpiont: tempo:4317', //                           9
        '    tls: { insecure: true, insecure_skip: true }', //   10
        '    sending_queue: { size: 10 }', //                    11
        '    retry_on_failure: { max_elapsed: 1s }', //          12
        'service:', //                                           13
        '  telemetry:', //                                       14
        '    metrics: { level: basic }', //                      15
        '    traces:', //                                        16
        '      endpoint: http://jaeger:4318/v1/traces', //       17
        '      sampler: always_on', //                           18
      )}`,
    );
    for (const [path, line] of [
      ['exporters.otlp.endpiont', 9],
      ['exporters.otlp.tls.insecure_skip', 10],
      ['exporters.otlp.sending_queue.size', 11],
      ['exporters.otlp.retry_on_failure.max_elapsed', 12],
      ['service.telemetry.metrics', 15],
      ['service.telemetry.traces.sampler', 18],
    ] as const) {
      expect(issues).toContainEqual(expect.objectContaining({ path, line, message: expect.stringContaining('unknown key') }));
    }

    const enums = issuesOf(
      `${minimal}${yaml(
        'exporters:', //                  6
        '  otlp:', //                     7
        '    endpoint: tempo:4317', //    8
        '    protocol: http', //          9
        '    forward: all', //            10
        '    compression: zstd', //       11
        '    timeout: soon', //           12
        'service:',
        '  telemetry:',
        '    traces: { endpoint: "http://jaeger:4318/v1/traces", sampling_ratio: 1.5 }', // 15
      )}`,
    );
    expect(enums).toContainEqual(expect.objectContaining({ path: 'exporters.otlp.protocol', line: 9 }));
    expect(enums).toContainEqual(expect.objectContaining({ path: 'exporters.otlp.forward', line: 10 }));
    expect(enums).toContainEqual(expect.objectContaining({ path: 'exporters.otlp.compression', line: 11 }));
    expect(enums).toContainEqual(expect.objectContaining({ path: 'exporters.otlp.timeout', line: 12, message: expect.stringContaining('invalid duration') }));
    expect(enums).toContainEqual(expect.objectContaining({ path: 'service.telemetry.traces.sampling_ratio', line: 15 }));

    const missing = issuesOf(`${minimal}exporters:\n  otlp:\n    protocol: grpc\n`);
    expect(missing).toContainEqual(expect.objectContaining({ path: 'exporters.otlp.endpoint', line: 7, message: expect.stringMatching(/^required/) }));
  });

  it('refuses exporter names other than `otlp` and `otlp/<name>`, naming the key and its line', () => {
    const issues = issuesOf(`${minimal}${yaml('exporters:', '  otlphttp:', '    endpoint: tempo:4317', '  otlp/:', '    endpoint: tempo:4317', '  otlp/a b:', '    endpoint: tempo:4317')}`);
    expect(issues).toContainEqual(expect.objectContaining({ path: 'exporters.otlphttp', line: 7 }));
    expect(issues).toContainEqual(expect.objectContaining({ path: 'exporters.otlp/', line: 9 }));
    expect(issues).toContainEqual(expect.objectContaining({ path: 'exporters.otlp/a b', line: 11 }));
    expect(issues).toHaveLength(3);
    // The pattern's own message, not zod's "Invalid key in record".
    for (const issue of issues) expect(issue.message).toContain('exporters are `otlp` or `otlp/<name>`');
  });

  it('keeps several exporters in file order', () => {
    const config = parse(
      `${minimal}${yaml('exporters:', '  otlp/zeta:', '    endpoint: z:4317', '  otlp:', '    endpoint: o:4317', '  otlp/alpha:', '    endpoint: a:4317')}`,
    );
    expect(config.exporters.map((e) => e.name)).toEqual(['otlp/zeta', 'otlp', 'otlp/alpha']);
  });
});

describe('optional storage and the pipeline checks', () => {
  it('accepts a forward-only pipeline whose scores go to a scoring exporter', () => {
    const config = parse(
      yaml(
        ...aRule,
        'exporters:',
        '  otlp/gateway:',
        '    endpoint: gateway:4317',
        '    forward: received',
        '  otlp/evals:',
        '    endpoint: https://evals.example',
        '    protocol: http/protobuf',
        '    forward: scoring',
      ),
    );
    expect(config.storage).toBeUndefined();
    expect(config.exporters.map((e) => [e.name, e.forwardReceived, e.forwardScoring])).toEqual([
      ['otlp/gateway', true, false],
      ['otlp/evals', false, true],
    ]);
    // `storage: {}` (no clickhouse under it) is forward-only too.
    expect(parse(`storage: {}\nexporters:\n  otlp:\n    endpoint: tempo:4317\n`).storage).toBeUndefined();
    // Forward-only without rules: nothing to score, the exporter carries the spans.
    expect(parse(`exporters:\n  otlp:\n    endpoint: tempo:4317\n    forward: received\n`).exporters).toHaveLength(1);
  });

  it('takes traces_endpoint without endpoint for HTTP, and a bare `storage:` as forward-only', () => {
    const config = parse(yaml('exporters:', '  otlp:', '    protocol: http/json', '    traces_endpoint: https://vendor.example/api/traces', '    forward: received', 'storage:'));
    expect(config.exporters[0]!.endpoint).toBe('https://vendor.example/api/traces');
    expect(config.storage).toBeUndefined();
    const issues = issuesOf(yaml('exporters:', '  otlp:', '    protocol: http/json', '    forward: received'));
    expect(issues).toEqual([expect.objectContaining({ path: 'exporters.otlp.endpoint', message: expect.stringContaining('or give `traces_endpoint`') })]);
  });

  it('refuses a forward-only config that would acknowledge and drop every span (no rule, scoring exporters only)', () => {
    const issues = issuesOf(yaml('exporters:', '  otlp:', '    endpoint: tempo:4317', '    forward: scoring'));
    expect(issues).toEqual([expect.objectContaining({ path: 'exporters', message: expect.stringContaining('every span would be acknowledged and dropped') })]);
  });

  it('refuses a config with neither storage nor exporters', () => {
    const absent = issuesOf(yaml('admin: { endpoint: 127.0.0.1:13133 }'));
    expect(absent).toEqual([expect.objectContaining({ path: 'storage', message: expect.stringContaining('no `storage.clickhouse` and no `exporters`') })]);
    const empty = issuesOf(yaml('scoring: { workers: 1 }', 'storage: {}'));
    expect(empty).toEqual([expect.objectContaining({ path: 'storage', line: 2, message: expect.stringContaining('spans would be acknowledged and dropped') })]);
  });

  it('refuses enabled rules without storage when no exporter forwards scoring spans, naming the rules', () => {
    const issues = issuesOf(
      yaml(
        ...aRule, //                              1-3
        '  - name: off', //                       4
        '    scorers: [ExactMatch]', //           5
        '    enabled: false', //                  6
        'exporters:', //                          7
        '  otlp:', //                             8
        '    endpoint: tempo:4317', //            9
        '    forward: received', //               10
      ),
    );
    expect(issues).toEqual([
      expect.objectContaining({ path: 'exporters', line: 7, message: expect.stringContaining('no exporter forwards them (rules r would score into nothing)') }),
    ]);
    expect(issues[0]!.message).toContain('`forward: scoring` or `both`');
    // Only disabled rules: nothing would be scored, nothing lost.
    expect(parse(yaml('rules:', '  - { name: off, scorers: [ExactMatch], enabled: false }', 'exporters:', '  otlp:', '    endpoint: tempo:4317', '    forward: received')).rules).toHaveLength(1);
  });

  it('refuses trace rules without storage, naming the rule scope and its line', () => {
    const issues = issuesOf(
      yaml(
        'rules:', //                             1
        '  - name: span-rule', //                2
        '    scorers: [ExactMatch]', //          3
        '  - name: trace-rule', //               4
        '    scorers: [ExactMatch]', //          5
        '    scope: trace', //                   6
        'exporters:',
        '  otlp:',
        '    endpoint: tempo:4317',
      ),
    );
    expect(issues).toEqual([expect.objectContaining({ path: 'rules[1].scope', line: 6, message: expect.stringContaining('trace rules read the whole trace back from ClickHouse: they need `storage.clickhouse`') })]);
    // With storage they are fine.
    expect(parse(`${minimal}rules:\n  - { name: t, scorers: [ExactMatch], scope: trace }\n`).rules[0]!.scope).toBe('trace');
  });

  it('refuses exporters that point at this daemon\'s own receivers (127.0.0.1, localhost, 0.0.0.0, any scheme)', () => {
    const issues = issuesOf(
      `${minimal}${yaml(
        ...fixedReceivers, //                             6-10
        'exporters:', //                            11
        '  otlp/localhost:', //                     12
        '    endpoint: localhost:14317', //         13
        '  otlp/loopback-http:', //                 14
        '    endpoint: http://127.0.0.1:14318', //  15
        '    protocol: http/protobuf', //           16
        '  otlp/unspecified:', //                   17
        '    endpoint: 0.0.0.0:14317', //           18
        '  otlp/other-loopback:', //                19
        '    endpoint: https://127.0.0.2:14318', // 20
        '  otlp/elsewhere:', //                     21
        '    endpoint: collector:14317', //         22
        '  otlp/other-port:', //                    23
        '    endpoint: 127.0.0.1:14319', //         24
      )}`,
    );
    expect(issues).toContainEqual(
      expect.objectContaining({
        path: 'exporters.otlp/localhost.endpoint',
        line: 13,
        message: expect.stringContaining("localhost:14317 is this spanscore's own otlp/grpc receiver (127.0.0.1:14317)"),
      }),
    );
    expect(issues).toContainEqual(
      expect.objectContaining({ path: 'exporters.otlp/loopback-http.endpoint', line: 15, message: expect.stringContaining('own otlp/http receiver (127.0.0.1:14318)') }),
    );
    expect(issues).toContainEqual(expect.objectContaining({ path: 'exporters.otlp/unspecified.endpoint', line: 18, message: expect.stringContaining('own otlp/grpc receiver') }));
    expect(issues).toContainEqual(expect.objectContaining({ path: 'exporters.otlp/other-loopback.endpoint', line: 20, message: expect.stringContaining('own otlp/http receiver') }));
    expect(issues.every((issue) => issue.message.includes('without end'))).toBe(true);
    // Another host, or another port on this one, is not a loop.
    expect(issues).toHaveLength(4);
  });

  it('refuses self-telemetry sent to this daemon\'s own receiver', () => {
    const issues = issuesOf(
      `${minimal}${yaml(
        ...fixedReceivers, //                                     6-10
        'service:', //                                            11
        '  telemetry:', //                                        12
        '    traces:', //                                         13
        '      endpoint: http://localhost:14318/v1/traces', //    14
      )}`,
    );
    expect(issues).toEqual([
      expect.objectContaining({
        path: 'service.telemetry.traces.endpoint',
        line: 14,
        message: expect.stringContaining("http://localhost:14318/v1/traces is this spanscore's own otlp/http receiver (127.0.0.1:14318): spanscore would trace the handling of its own traces"),
      }),
    ]);
    const grpc = issuesOf(`${minimal}${yaml(...fixedReceivers, 'service:', '  telemetry:', '    traces: { endpoint: "0.0.0.0:14317", protocol: grpc }')}`);
    expect(grpc).toEqual([expect.objectContaining({ path: 'service.telemetry.traces.endpoint', line: 13, message: expect.stringContaining('own otlp/grpc receiver') })]);
  });

  it('accepts exporters and self-telemetry on other ports, and any port when the receivers pick theirs (port 0)', () => {
    const config = parse(
      `${minimal}${yaml(
        ...fixedReceivers,
        'exporters:',
        '  otlp:',
        '    endpoint: 127.0.0.1:24317',
        'service:',
        '  telemetry:',
        '    traces: { endpoint: "http://127.0.0.1:24318/v1/traces" }',
      )}`,
    );
    expect(config.exporters[0]!.endpoint).toBe('127.0.0.1:24317');
    expect(config.service.telemetry).toEqual({ protocol: 'http/protobuf', endpoint: 'http://127.0.0.1:24318/v1/traces', headers: {}, tls: { insecure: true, insecureSkipVerify: false }, samplingRatio: 1 });
    const ephemeral = parse(
      `${minimal}${yaml('receivers:', '  otlp:', '    protocols:', '      grpc: { endpoint: 127.0.0.1:0 }', 'exporters:', '  otlp:', '    endpoint: 127.0.0.1:0')}`,
    );
    expect(ephemeral.exporters).toHaveLength(1);
  });
});

describe('service.telemetry.traces', () => {
  it('is off unless given, and resolves its endpoint, protocol, headers and sampling ratio', () => {
    expect(parse(`${minimal}service: { log_level: info }\n`).service.telemetry).toBeUndefined();
    const http = parse(`${minimal}service:\n  telemetry:\n    traces:\n      endpoint: https://jaeger.example/v1/traces\n      headers: { x-key: k }\n      sampling_ratio: 0.25\n`);
    expect(http.service.telemetry).toEqual({
      protocol: 'http/protobuf',
      endpoint: 'https://jaeger.example/v1/traces',
      headers: { 'x-key': 'k' },
      tls: { insecure: false, insecureSkipVerify: false },
      samplingRatio: 0.25,
    });
    const grpc = parse(`${minimal}service:\n  telemetry:\n    traces: { endpoint: "http://jaeger:4317", protocol: grpc }\n`);
    expect(grpc.service.telemetry).toMatchObject({ protocol: 'grpc', endpoint: 'jaeger:4317', tls: { insecure: true } });
    const bad = issuesOf(`${minimal}service:\n  telemetry:\n    traces:\n      endpoint: jaeger\n`);
    expect(bad).toEqual([expect.objectContaining({ path: 'service.telemetry.traces.endpoint', line: 9, message: expect.stringContaining('http:// or https:// URL for http/protobuf') })]);
  });
});
