import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Runs a compiled bench script (next to this file) as its own process with one JSON argument;
 * every JSON line it prints goes to `onLine`, and the promise resolves with the last one.
 * Its own process so that its CPU, heap and GC are neither the driver's nor the daemon's.
 */
export function runJsonChild<T>(script: string, options: object, onLine: (line: Record<string, unknown>) => void = () => {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, script), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let last: unknown;
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        process.stderr.write(`${script}: ${text}\n`);
        return;
      }
      last = line;
      onLine(line);
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 && last !== undefined ? resolve(last as T) : reject(new Error(`${script} exited with ${code}`))));
  });
}
