import { createInterface } from 'node:readline/promises';
import type { AdminApiClient } from '../admin/api/api-client.js';
import type { BackfillEstimate, BackfillJobStatus } from '../scoring/on-demand/on-demand-scoring.js';
import { formatUsd, progressBar } from './table-format.js';

export interface BackfillOptions {
  rule: string;
  filter?: string;
  since?: string;
  limit: number;
  force: boolean;
  yes: boolean;
}

export interface BackfillIo {
  out: NodeJS.WritableStream;
  /** Progress goes here, so stdout stays the estimate and the summary. */
  err: NodeJS.WritableStream & { isTTY?: boolean };
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  pollMs?: number;
}

/** More spans than this, or any estimated cost, and the CLI asks before starting. */
export const CONFIRM_ABOVE_SPANS = 100;

/**
 * `spanscore backfill --rule NAME`: shows what a backfill would score and cost, asks when it is
 * big or costs money (unless `--yes`; without a terminal to ask on it refuses), starts it,
 * draws its progress from `GET /jobs/ID`, and prints a summary. Exit 1 when the job failed.
 */
export async function backfillCommand(client: AdminApiClient, options: BackfillOptions, io: BackfillIo): Promise<number> {
  const request = {
    rule: options.rule,
    ...(options.filter !== undefined && { filter: options.filter }),
    ...(options.since !== undefined && { since: options.since }),
    limit: options.limit,
    force: options.force,
  };
  const { estimate } = await client.post<{ estimate: BackfillEstimate }>('/backfill', { ...request, dry_run: true });
  io.out.write(describeEstimate(options, estimate));
  if (estimate.toScore === 0) {
    io.out.write(`nothing to score${estimate.alreadyScored > 0 ? ' (use --force to score them again)' : ''}\n`);
    return 0;
  }
  const costly = estimate.estimatedCostUsd !== null && estimate.estimatedCostUsd > 0;
  if ((estimate.toScore > CONFIRM_ABOVE_SPANS || costly) && !options.yes) {
    if (!io.input.isTTY) {
      io.err.write('refusing to start without confirmation: no terminal to ask on; rerun with --yes\n');
      return 1;
    }
    if (!(await confirm(io, 'start the backfill? [y/N] '))) {
      io.err.write('cancelled\n');
      return 1;
    }
  }
  const started = await client.post<{ job: BackfillJobStatus }>('/backfill', request);
  const job = await follow(client, started.job, io);
  io.out.write(summary(job));
  return job.state === 'done' ? 0 : 1;
}

function describeEstimate(options: BackfillOptions, estimate: BackfillEstimate): string {
  const window = options.since !== undefined ? ` in the last ${options.since}` : '';
  return [
    `backfill of rule ${options.rule}${window}: ${estimate.spans} span${estimate.spans === 1 ? '' : 's'} (the ${options.limit} most recent at most)`,
    `  already scored: ${estimate.alreadyScored}${options.force ? ' (scored again: --force)' : ''}`,
    `  to score:       ${estimate.toScore}`,
    `  est. cost:      ${formatUsd(estimate.estimatedCostUsd)}`,
    '',
  ].join('\n');
}

async function confirm(io: BackfillIo, question: string): Promise<boolean> {
  const rl = createInterface({ input: io.input, output: io.err });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** Polls the job until it ends, redrawing one progress line (a new line per change without a terminal). */
async function follow(client: AdminApiClient, first: BackfillJobStatus, io: BackfillIo): Promise<BackfillJobStatus> {
  let job = first;
  let last = '';
  for (;;) {
    const line = `${progressBar(job.done, job.total)}  scored ${job.scored}, skipped ${job.skipped}, errored ${job.errored}`;
    if (line !== last) {
      io.err.write(io.err.isTTY ? `\r${line}` : `${line}\n`);
      last = line;
    }
    if (job.state !== 'running') break;
    await new Promise((resolve) => setTimeout(resolve, io.pollMs ?? 250));
    job = await client.get<BackfillJobStatus>(`/jobs/${encodeURIComponent(job.id)}`);
  }
  if (io.err.isTTY) io.err.write('\n');
  return job;
}

function summary(job: BackfillJobStatus): string {
  const seconds = job.finishedAt ? ` in ${((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000).toFixed(1)} s` : '';
  const head = job.state === 'done' ? `backfill ${job.id} done${seconds}` : `backfill ${job.id} ${job.state}${seconds}: ${job.error ?? 'no reason given'}`;
  return `${head}: ${job.total} spans, ${job.scored} scored, ${job.skipped} skipped (already scored), ${job.errored} with errors\n`;
}
