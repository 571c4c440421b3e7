/**
 * Appends each event as one JSON line. When the file would grow past
 * `maxBytes` it is rotated: `events.jsonl` → `.1` → `.2` ... and the oldest
 * beyond `keep` is removed, so disk use stays bounded.
 *
 * JSON.stringify escapes newlines, C0 controls and lone surrogates, so each
 * line is valid JSON and one line whatever the event holds.
 *
 * After a crash the router replays the events since the sink's last saved
 * cursor, some of which may already be in the file. On open the sink reads
 * the ids at the end of its file and skips those, so no event is written
 * twice.
 */

import type { HarkEvent } from "../lib/event/event.ts";
import type { Sink } from "./sink.ts";
import { writeAllSync } from "../lib/util/write_all.ts";

const encoder = new TextEncoder();
/** How much of the file's end is read for ids on open: far more than one cursor flush interval of events. */
const TAIL_BYTES = 1024 * 1024;

export interface FileSinkInit {
  path: string;
  /** Rotate before the file passes this size. */
  maxBytes: number;
  /** Rotated files to keep besides the live one. */
  keep: number;
}

export class FileSink implements Sink {
  readonly name: string;
  #init: FileSinkInit;
  #file?: Deno.FsFile;
  #size = 0;
  /** Ids at the end of the file when it was opened; cleared at the first new event. */
  #written?: Set<string>;

  constructor(init: FileSinkInit) {
    this.#init = init;
    this.name = `file:${init.path}`;
  }

  async deliver(event: HarkEvent): Promise<void> {
    if (!this.#file) {
      await this.#open();
      this.#written = await this.#recover();
    }
    if (this.#written) {
      if (this.#written.has(event.id)) return;
      // Replay is a prefix of what follows: past the first new event nothing is repeated.
      this.#written = undefined;
    }
    const line = encoder.encode(JSON.stringify(event) + "\n");
    if (this.#size > 0 && this.#size + line.length > this.#init.maxBytes) await this.#rotate();
    // Synchronous on purpose: an append to a local file takes microseconds,
    // while an async write waits for the event loop, which under a burst of
    // network traffic left this sink seconds behind (thousands of events).
    writeAllSync(this.#file!, line);
    this.#size += line.length;
  }

  close(): Promise<void> {
    this.#file?.close();
    this.#file = undefined;
    return Promise.resolve();
  }

  async #open(): Promise<void> {
    this.#file = await Deno.open(this.#init.path, { append: true, create: true, mode: 0o600 });
    this.#size = (await this.#file.stat()).size;
  }

  /**
   * Reads the end of the file once after opening it. A crash in the middle
   * of a write leaves half a line there: that event was not counted as
   * delivered and comes again, so the torn piece is cut off. The ids of the
   * whole lines before it are what the replay may repeat.
   */
  async #recover(): Promise<Set<string>> {
    const ids = new Set<string>();
    if (this.#size === 0) return ids;
    const length = Math.min(this.#size, TAIL_BYTES);
    const start = this.#size - length;
    const file = await Deno.open(this.#init.path, { read: true, write: true });
    try {
      await file.seek(start, Deno.SeekMode.Start);
      const buffer = new Uint8Array(length);
      let read = 0;
      while (read < length) {
        const n = await file.read(buffer.subarray(read));
        if (n === null) break;
        read += n;
      }
      const end = buffer.subarray(0, read).lastIndexOf(10) + 1;
      if (end < read) {
        await file.truncate(start + end);
        this.#size = start + end;
      }
      const lines = new TextDecoder().decode(buffer.subarray(0, end)).split("\n");
      // The first piece may be cut unless the read began at the start of the file.
      for (const line of lines.slice(start === 0 ? 0 : 1)) {
        const id = /^\{"id":"([0-9A-Z]{26})"/.exec(line)?.[1];
        if (id) ids.add(id);
      }
    } finally {
      file.close();
    }
    return ids;
  }

  async #rotate(): Promise<void> {
    await this.close();
    const { path, keep } = this.#init;
    await removeIfExists(`${path}.${keep}`);
    for (let i = keep - 1; i >= 1; i--) await renameIfExists(`${path}.${i}`, `${path}.${i + 1}`);
    await renameIfExists(path, `${path}.1`);
    await this.#open();
  }
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await Deno.rename(from, to);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
