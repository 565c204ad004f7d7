import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PACKAGE_ROOT } from './package-root.js';

export const CLI = join(PACKAGE_ROOT, 'dist/cli/main.js');

export interface DaemonAddresses {
  grpc?: string;
  http?: string;
  admin: string;
}

export interface RunningDaemon {
  addresses: DaemonAddresses;
  child: ChildProcess;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  configFile: string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the built daemon (`dist/cli/main.js run`) as a separate process with the given
 * config text, and resolves once its "ready" log line gives the bound addresses. Use port 0
 * in the config's endpoints to get free ports.
 */
export async function startDaemon(configYaml: string, options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunningDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'spanscore-daemon-'));
  const configFile = join(dir, 'spanscore.yaml');
  writeFileSync(configFile, configYaml);
  const child = spawn(process.execPath, [CLI, 'run', '--config', configFile], {
    cwd: dir,
    env: { ...process.env, SPANSCORE_LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  process.once('exit', () => child.kill('SIGKILL'));

  const addresses = await new Promise<DaemonAddresses>((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`daemon not ready within ${options.timeoutMs ?? 60_000} ms\nstderr: ${stderr}\nlogs: ${JSON.stringify(logs.slice(-5))}`)),
      options.timeoutMs ?? 60_000,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { msg: line };
      }
      logs.push(entry);
      if (typeof entry.msg === 'string' && entry.msg.startsWith('spanscore ready')) {
        clearTimeout(timer);
        resolveReady(entry.addresses as DaemonAddresses);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before it was ready\nstderr: ${stderr}\nlogs: ${JSON.stringify(logs.slice(-5))}`));
    });
  });

  return {
    addresses,
    child,
    logs,
    configFile,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? PACKAGE_ROOT, env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolveRun({ code, stdout, stderr }));
  });
}
