/** Idle footprint of long-running processes: resident memory and CPU time (Linux /proc). */

import { median } from "./stats.ts";

const TICKS_PER_SECOND = 100;

/** User and system CPU seconds a process has used so far. */
export async function cpuTimes(pid: number): Promise<{ user: number; system: number }> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name, which may itself hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND };
}

/** User plus system CPU seconds a process has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const { user, system } = await cpuTimes(pid);
  return user + system;
}

export async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/**
 * The process's anonymous resident memory (RssAnon in /proc/PID/status):
 * heap, stacks and other memory it allocated, without pages mapped from
 * files. For a Deno agent about half of its RSS is the deno executable's own
 * code, clean pages the kernel shares between processes and can drop and
 * read back at will; this is the part the agent itself holds.
 */
export async function anonymousMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/RssAnon:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

export interface Footprint {
  /** Median over the processes. */
  rssMb: number;
  /** Median over the processes of their anonymous memory (RSS without mapped files). */
  anonymousMb: number;
  /** CPU seconds per minute of idling, median over the processes. */
  cpuPerMinute: number;
}

/** Samples each process over `windowMs` while nothing is published. */
export async function measureIdle(pids: number[], windowMs: number): Promise<Footprint> {
  const before = await Promise.all(pids.map(cpuSeconds));
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const after = await Promise.all(pids.map(cpuSeconds));
  const rss = await Promise.all(pids.map(rssMb));
  const anonymous = await Promise.all(pids.map(anonymousMb));
  const perMinute = after.map((seconds, i) => (seconds - before[i]) * (60_000 / windowMs));
  return { rssMb: median(rss), anonymousMb: median(anonymous), cpuPerMinute: median(perMinute) };
}

export interface SettleOptions {
  /** CPU per process per second that counts as idle. @default 6 (an idle hark agent uses about 4) */
  idleMsPerSecond?: number;
  /** The window CPU is measured over. @default 2000 */
  windowMs?: number;
  /** Give up waiting after this long. @default 120000 */
  deadlineMs?: number;
}

/**
 * Waits until the processes have finished starting up: a mesh that was just
 * formed still exchanges history, identities and peer lists for half a
 * minute, which at N = 30 on two cores is a third of a core that a figure of
 * steady use should not carry. Returns how long it took, or undefined when
 * the processes were still busy at the deadline (the caller says so).
 */
export async function settle(pids: number[], options: SettleOptions = {}): Promise<number | undefined> {
  const idleMsPerSecond = options.idleMsPerSecond ?? 6;
  const windowMs = options.windowMs ?? 2000;
  const began = performance.now();
  const total = async () => (await Promise.all(pids.map(cpuSeconds))).reduce((sum, seconds) => sum + seconds, 0);
  let before = await total();
  while (performance.now() - began < (options.deadlineMs ?? 120_000)) {
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const after = await total();
    const msPerSecond = ((after - before) * 1000) / (windowMs / 1000) / pids.length;
    if (msPerSecond <= idleMsPerSecond) return performance.now() - began;
    before = after;
  }
  return undefined;
}
