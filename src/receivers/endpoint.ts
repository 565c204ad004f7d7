/** `host:port` endpoints as written in the config (`127.0.0.1:4318`, `[::1]:4317`, `:4318`). */
export interface HostPort {
  /** Without IPv6 brackets; '' means every interface. */
  host: string;
  port: number;
}

export function parseEndpoint(endpoint: string): HostPort {
  const colon = endpoint.lastIndexOf(':');
  const portText = endpoint.slice(colon + 1);
  const port = Number(portText);
  if (colon < 0 || portText === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`endpoint "${endpoint}" must be host:port with a port from 0 to 65535`);
  }
  let host = endpoint.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port };
}

export function formatEndpoint({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The configured endpoint with the port actually bound (differs when 0 was asked). */
export function withBoundPort(endpoint: string, port: number): string {
  return formatEndpoint({ host: parseEndpoint(endpoint).host, port });
}
