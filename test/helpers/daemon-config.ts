/**
 * The YAML config of a test daemon: ephemeral ports on loopback, the given storage, and
 * whatever else the test adds (rules, scorers, ...) as raw YAML.
 */
export function daemonConfig(options: { embeddedPath?: string; url?: string; grpc?: boolean; http?: boolean; extra?: string; clickhouse?: string }): string {
  const storage = options.url !== undefined ? `url: ${options.url}` : `embedded: { path: ${options.embeddedPath} }`;
  return `
receivers:
  otlp:
    protocols:
${options.grpc === false ? '' : '      grpc: { endpoint: 127.0.0.1:0 }\n'}${options.http === false ? '' : '      http: { endpoint: 127.0.0.1:0 }\n'}storage:
  clickhouse:
    ${storage}
    insert: { linger: 5ms }
${options.clickhouse ?? ''}
admin: { endpoint: 127.0.0.1:0 }
${options.extra ?? ''}
`;
}
