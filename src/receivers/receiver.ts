/** An OTLP endpoint the daemon starts and stops (gRPC or HTTP). */
export interface Receiver {
  /** `otlp/grpc` | `otlp/http` — for logs and the addresses the daemon reports. */
  readonly name: string;
  /** Starts listening; resolves with the bound `host:port` (the real port when 0 was asked). */
  start(): Promise<string>;
  /**
   * Stops accepting requests and lets in-flight ones finish (their spans stored or
   * refused); after `deadlineMs` remaining connections are cut.
   */
  shutdown(deadlineMs: number): Promise<void>;
}
