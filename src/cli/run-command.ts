import { createLogger } from '../admin/logger.js';
import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/config-loader.js';
import { checkScorers } from '../config/scorer-checks.js';
import { ConfigReloader } from '../pipeline/config-reloader.js';
import { Daemon } from '../pipeline/daemon.js';
import { SelfTelemetry, shownEndpoint } from '../telemetry/self-telemetry.js';
import { packageVersion } from '../admin/package-version.js';

const version = packageVersion() ?? 'unknown';

export async function runCommand(file: string): Promise<number> {
  let config;
  try {
    config = loadConfig(file);
    await checkScorers(config);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nspanscore refuses to start with an invalid config.\n`);
      return 1;
    }
    throw error;
  }
  const logger = createLogger(process.env.SPANSCORE_LOG_LEVEL ?? config.service.logLevel);
  let telemetry: SelfTelemetry | undefined;
  const spec = config.service.telemetry;
  if (spec) {
    try {
      telemetry = SelfTelemetry.start(spec, { instanceId: config.service.instanceId, version, logger });
    } catch (error) {
      logger.fatal({ err: error }, `spanscore could not start: ${(error as Error).message}`);
      return 1;
    }
    logger.info(
      { endpoint: shownEndpoint(spec.endpoint), protocol: spec.protocol, samplingRatio: spec.samplingRatio },
      `self-telemetry on: the daemon's own spans go to ${shownEndpoint(spec.endpoint)} (${spec.protocol})`,
    );
  }
  // The daemon's own spans are sent after it has stopped: its last requests and inserts are traced too.
  const stopTelemetry = () => telemetry?.shutdown() ?? Promise.resolve();
  const daemon = new Daemon(config, logger);
  let reloader: ConfigReloader | undefined;
  let signalled = false;
  const stop = (signal: string) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, 'signal received');
    reloader?.close();
    daemon.shutdown().then(
      () => stopTelemetry().then(() => process.exit(0)),
      (error) => {
        logger.error({ err: error }, 'shutdown failed');
        void stopTelemetry().then(() => process.exit(1));
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await daemon.start();
  } catch (error) {
    logger.fatal({ err: error }, `spanscore could not start: ${(error as Error).message}`);
    await daemon.shutdown(2000).catch(() => undefined);
    await stopTelemetry();
    return 1;
  }
  reloader = new ConfigReloader({
    file,
    load: async (path) => {
      const next = loadConfig(path);
      await checkScorers(next);
      return next;
    },
    apply: (next) => daemon.reload(next),
    logger,
  });
  reloader.watch();
  process.on('SIGHUP', () => void reloader.reload('SIGHUP'));
  // Keep running until a signal; the servers hold the event loop open.
  return await new Promise<number>(() => undefined);
}
