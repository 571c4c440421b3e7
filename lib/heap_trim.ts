/**
 * Hands the JavaScript heap that an agent no longer uses back to the system.
 *
 * V8 grows its heap while the agent starts (modules, connections, catch-up)
 * and keeps the pages it freed for later. An idle agent runs no full garbage
 * collection, so it kept them for good: 5 to 6 MB of every idle agent's
 * anonymous memory (tests/bench/README.md, issue 32). A collection of the
 * "last resort" kind (V8's response to memory pressure) compacts the heap and
 * returns the pages; it takes about 120 ms of CPU.
 *
 * So: once when the agent has settled, then again only when the heap has
 * grown well past what the last one left. It needs V8's `gc`, which
 * HARK_V8_FLAGS exposes (`--expose-gc`); without it this does nothing.
 */

import { getLogger } from "@logtape/logtape";

const log = getLogger(["hark", "memory"]);

/** V8's `gc()` with options (V8 reads `type`, `execution` and `flavor`). */
export type GarbageCollector = (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

/** When the first trim runs after start: once start-up's garbage is made. */
export const FIRST_TRIM_MS = 30_000;

export interface HeapTrimInit {
  /** The first trim, after start-up's garbage is made. @default FIRST_TRIM_MS */
  settleMs?: number;
  /** How often the heap is looked at after that. @default 60_000 */
  intervalMs?: number;
  /** Trim again once the heap V8 holds is this much larger than the last trim left it. @default 4 MiB */
  growthBytes?: number;
  /** @default globalThis.gc */
  gc?: GarbageCollector;
  /** @default () => Deno.memoryUsage().heapTotal */
  heapBytes?: () => number;
}

/** The `gc` that `--expose-gc` puts on the global object, if it is there. */
export function exposedGc(): GarbageCollector | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === "function" ? gc as GarbageCollector : undefined;
}

/** Collects everything collectable and returns the freed pages to the system. */
export function trimHeap(gc: GarbageCollector): void {
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
}

export class HeapTrim {
  readonly #settleMs: number;
  readonly #intervalMs: number;
  readonly #growthBytes: number;
  readonly #gc: GarbageCollector | undefined;
  readonly #heapBytes: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #leftBytes = 0;
  #trims = 0;

  constructor(init: HeapTrimInit = {}) {
    this.#settleMs = init.settleMs ?? FIRST_TRIM_MS;
    this.#intervalMs = init.intervalMs ?? 60_000;
    this.#growthBytes = init.growthBytes ?? 4 * 1024 * 1024;
    this.#gc = init.gc ?? exposedGc();
    this.#heapBytes = init.heapBytes ?? (() => Deno.memoryUsage().heapTotal);
  }

  /** How many times it has trimmed. */
  get trims(): number {
    return this.#trims;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    if (!this.#gc) {
      log.debug("V8's gc is not exposed (--v8-flags=--expose-gc): the heap is not trimmed");
      return;
    }
    this.#schedule(this.#settleMs);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => this.#check(), delayMs);
    // Never what keeps the process alive.
    Deno.unrefTimer(this.#timer);
  }

  #check(): void {
    const before = this.#heapBytes();
    if (this.#trims === 0 || before >= this.#leftBytes + this.#growthBytes) {
      const began = performance.now();
      trimHeap(this.#gc!);
      this.#leftBytes = this.#heapBytes();
      this.#trims++;
      log.debug("Trimmed the heap from {before} to {after} MB in {ms} ms", {
        before: (before / 1e6).toFixed(1),
        after: (this.#leftBytes / 1e6).toFixed(1),
        ms: Math.round(performance.now() - began),
      });
    }
    this.#schedule(this.#intervalMs);
  }
}
