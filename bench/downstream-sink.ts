import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface DownstreamSink {
  /** gRPC host:port. */
  address: string;
  /** OTLP/HTTP base URL. */
  httpUrl: string;
  pid: number;
  /** Stops it and says what it acknowledged. */
  stop(): Promise<{ requests: number; bytes: number }>;
}

/** Starts otlp-sink-process.js (the forwarding scenario's downstream) and waits for its address. */
export function startDownstreamSink(): Promise<DownstreamSink> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'otlp-sink-process.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  let done: ((stats: { requests: number; bytes: number }) => void) | undefined;
  let stopping: Promise<{ requests: number; bytes: number }> | undefined;
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      reject(new Error(`otlp-sink-process exited with ${code} before it was ready`));
      done?.({ requests: Number.NaN, bytes: Number.NaN });
    });
    lines.on('line', (text) => {
      const line = JSON.parse(text) as { type: string; address?: string; httpUrl?: string; requests?: number; bytes?: number };
      if (line.type === 'ready') {
        resolve({
          address: line.address!,
          httpUrl: line.httpUrl!,
          pid: child.pid!,
          stop: () =>
            (stopping ??= new Promise((stopped) => {
              done = stopped;
              child.kill('SIGTERM');
            })),
        });
      } else if (line.type === 'done') {
        done?.({ requests: line.requests!, bytes: line.bytes! });
      }
    });
  });
}
