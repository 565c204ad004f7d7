/**
 * The YAML config of a test daemon: ephemeral ports on loopback, the given storage (none:
 * forward-only, `extra` then configures exporters), and whatever else the test adds (rules,
 * scorers, ...) as raw YAML.
 */
export function daemonConfig(options: { embeddedPath?: string; url?: string; grpc?: boolean; http?: boolean; extra?: string; clickhouse?: string }): string {
  const clickhouse = options.url !== undefined ? `url: ${options.url}` : options.embeddedPath !== undefined ? `embedded: { path: ${options.embeddedPath} }` : undefined;
  const storage = clickhouse === undefined ? '' : `storage:\n  clickhouse:\n    ${clickhouse}\n    insert: { linger: 5ms }\n${options.clickhouse ?? ''}\n`;
  return `
receivers:
  otlp:
    protocols:
${options.grpc === false ? '' : '      grpc: { endpoint: 127.0.0.1:0 }\n'}${options.http === false ? '' : '      http: { endpoint: 127.0.0.1:0 }\n'}${storage}admin: { endpoint: 127.0.0.1:0 }
${options.extra ?? ''}
`;
}
