/** Polls `check` until it returns true, or fails with `what` after the timeout. */
export async function waitFor(check: () => Promise<boolean> | boolean, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
  throw new Error(`timed out waiting for ${options.what ?? 'a condition'}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}
