import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from './package-root.js';

/**
 * A real ClickHouse HTTP server for tests, run out of the libchdb.so that the chdb package
 * ships (see chdb-server.c), on a free port and its own data directory.
 */
export interface ClickHouseServer {
  url: string;
  port: number;
  dataDir: string;
  /** Kills the server (SIGKILL, like a crash) and waits until it has exited. Keeps the data. */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and port. */
  restart(): Promise<void>;
  /** Stops it and deletes the data directory if the helper created it (else done at process exit). */
  dispose(): Promise<void>;
}

export interface ClickHouseServerOptions {
  /** Defaults to a new temporary directory. */
  dataDir?: string;
  /** The server exits by itself after this long, so a lost server cannot run forever. */
  maxLifetimeSeconds?: number;
  /** How long to wait for /ping. */
  startTimeoutMs?: number;
  /**
   * Defines a one-node cluster of this name (remote_servers, {shard}/{replica}/{cluster}
   * macros, an in-memory Keeper) so Distributed and Replicated* DDL can be executed. What
   * clickhouse-local cannot do even so: ON CLUSTER statements (it runs no DDL worker) and
   * writes to Replicated* tables (it has no interserver address, so replicas stay read-only).
   */
  cluster?: string;
  /**
   * A users.xml (`<clickhouse><users>`, `<profiles>`, `<quotas>`) in place of the single
   * `default` user: clickhouse-local has no writable access storage, so CREATE USER cannot
   * add users. Not together with `cluster`.
   */
  usersXml?: string;
}

// From the package root, not this file: the benchmarks run a compiled copy of this helper.
const sourcePath = join(PACKAGE_ROOT, 'test', 'helpers', 'chdb-server.c');
const binaryPath = join(PACKAGE_ROOT, 'test', 'helpers', 'bin', 'chdb-server');

/** Servers of this process, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
/** Temporary data directories the helper made, removed when the test process exits. */
const temporaryDataDirs = new Set<string>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
  for (const dir of temporaryDataDirs) rmSync(dir, { recursive: true, force: true });
});

export async function startClickHouseServer(options: ClickHouseServerOptions = {}): Promise<ClickHouseServer> {
  const binary = await buildServerBinary();
  const library = findLibchdb();
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'spanscore-clickhouse-'));
  if (ownsDataDir) temporaryDataDirs.add(dataDir);
  mkdirSync(dataDir, { recursive: true });
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  if (options.cluster !== undefined && options.usersXml !== undefined) throw new Error('cluster and usersXml cannot be combined');
  const clusterArgs =
    options.cluster !== undefined ? await clusterConfigArgs(dataDir, options.cluster) : options.usersXml !== undefined ? usersConfigArgs(dataDir, options.usersXml) : [];
  const lifetime = options.maxLifetimeSeconds ?? 1800;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;

  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = await launch({ binary, library, dataDir, port, lifetime, startTimeoutMs, extraArgs: clusterArgs });
  };
  const stop = async (): Promise<void> => {
    const current = child;
    child = undefined;
    if (current !== undefined) await kill(current);
  };
  try {
    await start();
  } catch (err) {
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    port,
    dataDir,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    dispose: async () => {
      await stop();
      if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function launch(args: {
  binary: string;
  library: string;
  dataDir: string;
  port: number;
  lifetime: number;
  startTimeoutMs: number;
  extraArgs: string[];
}): Promise<ChildProcess> {
  // The HTTP listener lives while this query runs: one row per second, for `lifetime` seconds.
  const query =
    'SYSTEM START LISTEN HTTP; ' +
    `SELECT sleepEachRow(1) FROM numbers(${args.lifetime}) ` +
    'SETTINGS max_block_size = 1, function_sleep_max_microseconds_per_block = 0 FORMAT Null';
  const child = spawn(
    args.binary,
    [args.library, ...args.extraArgs, `--path=${args.dataDir}`, `--http_port=${args.port}`, '--listen_host=127.0.0.1', '--query', query],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    running.delete(child);
    exited = `exited (code ${code}, signal ${signal})`;
  });
  child.once('error', (err) => {
    exited = `failed to start: ${err.message}`;
  });

  const deadline = Date.now() + args.startTimeoutMs;
  while (Date.now() < deadline) {
    if (exited !== undefined) break;
    if (await answersPing(args.port)) return child;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const reason = exited ?? `no answer within ${args.startTimeoutMs} ms`;
  await kill(child);
  throw new Error(`the test ClickHouse server on port ${args.port} did not answer /ping: ${reason}; stderr:\n${stderr || '(empty)'}`);
}

async function answersPing(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/ping`, { signal: AbortSignal.timeout(1000) });
    return response.ok && (await response.text()).startsWith('Ok.');
  } catch {
    return false;
  }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Compiles chdb-server.c unless the binary is newer than the source. */
async function buildServerBinary(): Promise<string> {
  const sourceTime = statSync(sourcePath).mtimeMs;
  let binaryTime = -1;
  try {
    binaryTime = statSync(binaryPath).mtimeMs;
  } catch {
    // not built yet
  }
  if (binaryTime > sourceTime) return binaryPath;
  mkdirSync(dirname(binaryPath), { recursive: true });
  // Test files run in parallel processes: build under a private name, then rename atomically.
  const privatePath = `${binaryPath}.${process.pid}`;
  try {
    await promisify(execFile)('cc', ['-O1', '-Wall', '-o', privatePath, sourcePath, '-ldl']);
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr ?? String(err);
    throw new Error(`could not compile ${sourcePath} with cc (a C compiler is needed for the server tests):\n${detail}`);
  }
  renameSync(privatePath, binaryPath);
  return binaryPath;
}

/** libchdb.so from the platform package that chdb installed. */
function findLibchdb(): string {
  const require = createRequire(join(PACKAGE_ROOT, 'package.json'));
  const libc = process.platform === 'linux' ? '-gnu' : '';
  const packageName = `@chdb/lib-${process.platform}-${process.arch}${libc}`;
  try {
    return join(dirname(require.resolve(`${packageName}/package.json`)), 'libchdb.so');
  } catch (err) {
    throw new Error(`cannot find ${packageName} (installed with the optional dependency chdb): ${String(err)}`);
  }
}

/**
 * A config file naming a one-node cluster whose only replica is this server: its TCP port is
 * what makes ClickHouse see the replica as local and read and write it in-process.
 */
async function clusterConfigArgs(dataDir: string, cluster: string): Promise<string[]> {
  const tcpPort = await findFreePort();
  const file = join(dataDir, 'spanscore-test-cluster.xml');
  writeFileSync(
    file,
    `<clickhouse>
  <zookeeper><implementation>testkeeper</implementation></zookeeper>
  <remote_servers><${cluster}><shard><replica><host>127.0.0.1</host><port>${tcpPort}</port></replica></shard></${cluster}></remote_servers>
  <macros><shard>01</shard><replica>r1</replica><cluster>${cluster}</cluster></macros>
</clickhouse>
`,
  );
  return [`--config-file=${file}`, `--tcp_port=${tcpPort}`];
}

/** A config file whose only user directory is `usersXml`, written next to it. */
function usersConfigArgs(dataDir: string, usersXml: string): string[] {
  const usersFile = join(dataDir, 'spanscore-test-users.xml');
  writeFileSync(usersFile, usersXml);
  const file = join(dataDir, 'spanscore-test-config.xml');
  writeFileSync(file, `<clickhouse>\n  <user_directories><users_xml><path>${usersFile}</path></users_xml></user_directories>\n</clickhouse>\n`);
  return [`--config-file=${file}`];
}

/** A port nothing listens on right now (the OS's pick, released at once). */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
