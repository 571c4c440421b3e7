/**
 * Counts numbered markers (`t0`, `t1`, ...) in files that receivers append
 * to, cheaply enough for hundreds of thousands of lines a second: a bitmap
 * per file, read on a timer, with no per-event allocation.
 */

const MARKER = /\bt(\d+)\b/;

class FileCount {
  readonly file: string;
  seen = new Uint8Array(1 << 16);
  unique = 0;
  lines = 0;
  /** performance.now() of the read that brought the newest marker. */
  lastAt = 0;
  offset = 0;
  partial = "";

  constructor(file: string) {
    this.file = file;
  }

  add(index: number, now: number): void {
    if (index >= this.seen.length) {
      const bigger = new Uint8Array(Math.max(index + 1, this.seen.length * 2));
      bigger.set(this.seen);
      this.seen = bigger;
    }
    this.lines++;
    if (this.seen[index]) return;
    this.seen[index] = 1;
    this.unique++;
    this.lastAt = now;
  }
}

export class SequenceCounter {
  readonly counts: FileCount[];
  #timer?: ReturnType<typeof setInterval>;
  #reading = false;

  constructor(files: string[]) {
    this.counts = files.map((file) => new FileCount(file));
  }

  start(pollMs: number): void {
    this.#timer = setInterval(async () => {
      if (this.#reading) return;
      this.#reading = true;
      try {
        for (const count of this.counts) await this.#read(count);
      } finally {
        this.#reading = false;
      }
    }, pollMs);
  }

  async #read(count: FileCount): Promise<void> {
    const now = performance.now();
    const handle = await Deno.open(count.file);
    try {
      await handle.seek(count.offset, Deno.SeekMode.Start);
      const buffer = new Uint8Array(1 << 20);
      const decoder = new TextDecoder();
      while (true) {
        const n = await handle.read(buffer);
        if (n === null || n === 0) break;
        count.offset += n;
        const text = count.partial + decoder.decode(buffer.subarray(0, n), { stream: true });
        const lines = text.split("\n");
        count.partial = lines.pop() ?? "";
        for (const line of lines) {
          // A bare marker line (Mosquitto's millions) skips the regular expression.
          const bare = line.charCodeAt(0) === 116 ? Number(line.slice(1)) : NaN;
          if (Number.isInteger(bare)) {
            count.add(bare, now);
            continue;
          }
          const match = MARKER.exec(line);
          if (match) count.add(Number(match[1]), now);
        }
      }
    } finally {
      handle.close();
    }
  }

  /**
   * Resolves once every file holds `total` distinct markers, at the
   * deadline, or when nothing new has arrived for `stallMs` (what is lost
   * stays lost).
   */
  async until(total: number, timeoutMs: number, stallMs = 3000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let seen = -1;
    let progressAt = performance.now();
    while (performance.now() < deadline && this.counts.some((count) => count.unique < total)) {
      const now = this.counts.reduce((sum, count) => sum + count.lines, 0);
      if (now !== seen) {
        seen = now;
        progressAt = performance.now();
      } else if (performance.now() - progressAt > stallMs) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    while (this.#reading) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const count of this.counts) await this.#read(count);
  }
}
