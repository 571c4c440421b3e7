/**
 * Watches files that sinks append to and records when each marker first
 * appears in each file. inotify (Deno.watchFs) wakes us on every append, so
 * the timestamps are taken within a millisecond of the write.
 */

export type MarkerOf = (line: string) => string | undefined;

export class Arrivals {
  readonly #files: string[];
  readonly #markerOf: MarkerOf;
  readonly #offsets = new Map<string, number>();
  readonly #partial = new Map<string, string>();
  /** marker → file → first arrival (performance.now()). */
  readonly times = new Map<string, Map<string, number>>();
  /** file → lines seen, duplicates included. */
  readonly lines = new Map<string, number>();
  #watcher?: Deno.FsWatcher;
  #loop?: Promise<void>;
  #waiters: { check: () => boolean; resolve: () => void }[] = [];

  constructor(files: string[], markerOf: MarkerOf) {
    this.#files = files;
    this.#markerOf = markerOf;
  }

  async start(): Promise<void> {
    for (const file of this.#files) {
      const size = await Deno.stat(file).then((info) => info.size, () => 0);
      if (size === 0) await Deno.writeTextFile(file, "", { append: true });
      this.#offsets.set(file, size);
      this.lines.set(file, 0);
    }
    this.#watcher = Deno.watchFs(this.#files, { recursive: false });
    this.#loop = (async () => {
      for await (const event of this.#watcher!) {
        if (event.kind !== "modify") continue;
        for (const path of event.paths) await this.#read(path);
        this.#wake();
      }
    })();
  }

  async #read(file: string): Promise<void> {
    const offset = this.#offsets.get(file);
    if (offset === undefined) return;
    const now = performance.now();
    const handle = await Deno.open(file);
    try {
      await handle.seek(offset, Deno.SeekMode.Start);
      const chunks: Uint8Array[] = [];
      let total = 0;
      const buffer = new Uint8Array(1 << 16);
      while (true) {
        const n = await handle.read(buffer);
        if (n === null || n === 0) break;
        chunks.push(buffer.slice(0, n));
        total += n;
      }
      this.#offsets.set(file, offset + total);
      const text = (this.#partial.get(file) ?? "") + new TextDecoder().decode(concat(chunks, total));
      const parts = text.split("\n");
      this.#partial.set(file, parts.pop() ?? "");
      for (const line of parts) {
        const marker = this.#markerOf(line);
        if (marker === undefined) continue;
        this.lines.set(file, this.lines.get(file)! + 1);
        let perFile = this.times.get(marker);
        if (!perFile) this.times.set(marker, perFile = new Map());
        if (!perFile.has(file)) perFile.set(file, now);
      }
    } finally {
      handle.close();
    }
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.check()) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves true once `check` holds, false at the deadline. */
  until(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        resolve(false);
      }, timeoutMs);
      const entry = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.#waiters.push(entry);
    });
  }

  /** When `marker` had reached every file, or undefined if it has not yet. */
  completedAt(marker: string): number | undefined {
    const perFile = this.times.get(marker);
    if (!perFile || perFile.size < this.#files.length) return undefined;
    return Math.max(...perFile.values());
  }

  async stop(): Promise<void> {
    this.#watcher?.close();
    await this.#loop;
    for (const file of this.#files) await this.#read(file);
  }
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
