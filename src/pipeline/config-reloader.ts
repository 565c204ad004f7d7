import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../admin/logger.js';
import type { SpanscoreConfig } from '../config/spanscore-config.js';

export interface ConfigReloaderOptions {
  file: string;
  /** Loads and fully checks a config (the same as at start); throws ConfigError when invalid. */
  load: (file: string) => Promise<SpanscoreConfig>;
  /** Puts a valid config into effect; throws when it cannot (the old one then stays). */
  apply: (config: SpanscoreConfig) => Promise<void>;
  logger: Logger;
  /** Quiet time after the last file event before reloading: editors write in several steps. */
  debounceMs?: number;
}

export type ReloadResult = { ok: true; changed: boolean } | { ok: false; error: string };

/**
 * Reloads the config on SIGHUP (`reload()`) or when the file changes (`watch()`). Reloads run
 * one at a time; a file whose content did not change is not reloaded. An invalid file is
 * refused with its errors logged, and the running config stays.
 *
 * The directory is watched rather than the file: editors replace files by renaming, and a
 * Kubernetes ConfigMap volume swaps a symlink next to it, both of which a watch on the file
 * itself would miss. Events are only a hint; the content hash decides.
 */
export class ConfigReloader {
  readonly #options: ConfigReloaderOptions;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<ReloadResult> = Promise.resolve({ ok: true, changed: false });
  #loadedHash: string | undefined;

  constructor(options: ConfigReloaderOptions) {
    this.#options = options;
    this.#loadedHash = this.#hash();
  }

  /** Starts watching the file's directory. */
  watch(): void {
    if (this.#watcher) return;
    const name = basename(this.#options.file);
    this.#watcher = watch(dirname(this.#options.file), (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.reload('file changed', { onlyIfChanged: true }), this.#options.debounceMs ?? 200);
      this.#timer.unref();
    });
    this.#watcher.unref();
    this.#watcher.on('error', (error) => this.#options.logger.warn({ err: error }, 'cannot watch the config file; reload with SIGHUP'));
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  /** Loads, checks and applies the file. Never throws: the result says what happened. */
  reload(reason: string, options: { onlyIfChanged?: boolean } = {}): Promise<ReloadResult> {
    this.#running = this.#running.then(() => this.#reloadNow(reason, options.onlyIfChanged === true));
    return this.#running;
  }

  async #reloadNow(reason: string, onlyIfChanged: boolean): Promise<ReloadResult> {
    const { logger, file } = this.#options;
    const hash = this.#hash();
    if (onlyIfChanged && hash === this.#loadedHash) return { ok: true, changed: false };
    let config: SpanscoreConfig;
    try {
      config = await this.#options.load(file);
    } catch (error) {
      const message = (error as Error).message;
      logger.error({ reason, file }, `config reload refused, the running config stays: ${message}`);
      this.#loadedHash = hash; // do not retry the same broken text on every event
      return { ok: false, error: message };
    }
    try {
      await this.#options.apply(config);
    } catch (error) {
      const message = (error as Error).message;
      logger.error({ reason, file, err: error }, `config reload could not be applied, the running config stays: ${message}`);
      this.#loadedHash = hash;
      return { ok: false, error: message };
    }
    this.#loadedHash = hash;
    logger.info({ reason, file, rules: config.rules.filter((r) => r.enabled).map((r) => r.name) }, 'config reloaded');
    return { ok: true, changed: true };
  }

  #hash(): string | undefined {
    try {
      return createHash('sha256').update(readFileSync(this.#options.file)).digest('hex');
    } catch {
      return undefined;
    }
  }
}
