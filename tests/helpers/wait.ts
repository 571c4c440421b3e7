/** Waiting for conditions with a deadline: tests never sleep to synchronise. */

export interface WaitOptions {
  /** Give up after this long. @default 10000 */
  timeoutMs?: number;
  /** Time between checks. @default 25 */
  intervalMs?: number;
  /** Included in the error when the deadline passes. */
  message?: string;
}

/** Resolves with the first truthy result of `check`; rejects at the deadline. */
export async function waitFor<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  while (true) {
    try {
      const result = await check();
      if (result) return result;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message})` : "";
      throw new Error(`Timed out: ${options.message ?? "condition not met"}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}
