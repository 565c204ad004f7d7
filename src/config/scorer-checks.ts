import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AutoevalsScorer } from '../scoring/autoevals-scorer.js';
import { ConfigError, type ConfigIssue } from './config-error.js';
import type { SpanscoreConfig } from './spanscore-config.js';

interface ModuleProbe {
  name: string;
  url: string;
  exportName: string;
}

/**
 * Imports a list of modules in a throwaway worker thread and says, for each, what is wrong:
 * it does not load (with the error and its location), or the export is not a function. A
 * worker, so that the modules' top-level code never runs in the daemon's own thread, and
 * whatever it leaves behind (timers, sockets) dies with the worker.
 */
const PROBE_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const results = [];
  for (const probe of workerData) {
    try {
      const module = await import(probe.url);
      const exported = module[probe.exportName];
      results.push({ name: probe.name, type: typeof exported });
    } catch (error) {
      const stack = error && typeof error.stack === 'string' ? error.stack : '';
      results.push({ name: probe.name, error: (error && error.name ? error.name + ': ' : '') + (error && error.message ? error.message : String(error)), stack });
    }
  }
  parentPort.postMessage(results);
  process.exit(0);
})();
`;

interface ProbeResult {
  name: string;
  type?: string;
  error?: string;
  stack?: string;
}

const PROBE_TIMEOUT_MS = 10_000;

async function probeModules(probes: ModuleProbe[]): Promise<ProbeResult[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(PROBE_SOURCE, { eval: true, workerData: probes, stdout: true, stderr: true });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`importing the scorer modules took more than ${PROBE_TIMEOUT_MS / 1000} s (a module that never finishes loading?)`));
    }, PROBE_TIMEOUT_MS);
    worker.once('message', (results: ProbeResult[]) => {
      clearTimeout(timer);
      resolve(results);
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** The first `file:line:column` of the module in a stack or message (syntax errors name it in the message). */
function locationIn(text: string, modulePath: string): string | undefined {
  const escaped = modulePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`(?:${escaped}|${pathToFileURL(modulePath).href.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}):(\\d+)(?::(\\d+))?`).exec(text);
  return match ? `${modulePath}:${match[1]}${match[2] ? `:${match[2]}` : ''}` : undefined;
}

/**
 * Where a module fails to parse. An ESM SyntaxError does not carry its position in any
 * property `import()` exposes, so ask `node --check`, which prints `path:line` first.
 */
function syntaxErrorLocation(error: string, modulePath: string): string | undefined {
  if (!error.startsWith('SyntaxError')) return undefined;
  const check = spawnSync(process.execPath, ['--check', modulePath], { encoding: 'utf8', timeout: 10_000 });
  return locationIn(check.stderr ?? '', modulePath);
}

/**
 * The checks that need I/O, run after `loadConfig` by `run` and `validate`: every `module`
 * scorer loads and exports a function, every `autoevals` scorer exists in an installed
 * autoevals. Throws one ConfigError listing every problem.
 */
export async function checkScorers(config: SpanscoreConfig, autoevalsResolveFrom: readonly string[] = defaultAutoevalsResolveFrom(config)): Promise<void> {
  const issues: ConfigIssue[] = [];
  const at = (name: string, key: string) => ({ path: `scorers.${name}.${key}`, ...config.scorerLocations?.[`${name}.${key}`] });
  const probes: ModuleProbe[] = [];
  for (const spec of config.scorers.values()) {
    if (spec.kind === 'module') probes.push({ name: spec.name, url: pathToFileURL(spec.module).href, exportName: spec.exportName });
    if (spec.kind === 'autoevals') {
      try {
        await AutoevalsScorer.load(spec, autoevalsResolveFrom);
      } catch (error) {
        issues.push({ ...at(spec.name, 'autoevals'), message: (error as Error).message });
      }
    }
  }
  if (probes.length > 0) {
    let results: ProbeResult[];
    try {
      results = await probeModules(probes);
    } catch (error) {
      results = probes.map((probe) => ({ name: probe.name, error: (error as Error).message }));
    }
    for (const result of results) {
      const spec = config.scorers.get(result.name);
      if (spec?.kind !== 'module') continue;
      if (result.error !== undefined) {
        const where = locationIn(`${result.error}\n${result.stack ?? ''}`, spec.module) ?? syntaxErrorLocation(result.error, spec.module);
        issues.push({ ...at(spec.name, 'module'), message: `${spec.module} does not load: ${result.error.split('\n')[0]}${where ? ` (at ${where})` : ''}` });
      } else if (result.type !== 'function') {
        issues.push({ ...at(spec.name, spec.exportName === 'default' ? 'module' : 'export'), message: `${spec.module} exports ${spec.exportName === 'default' ? 'no default function' : `"${spec.exportName}" as ${result.type}, not a function`} (a scorer module exports a function (args) => score)` });
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(config.file, issues);
}

export function defaultAutoevalsResolveFrom(config: SpanscoreConfig): string[] {
  return [dirname(config.file), process.cwd(), fileURLToPath(import.meta.url)];
}
