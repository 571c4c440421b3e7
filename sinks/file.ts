/**
 * Appends each event as one JSON line. When the file would grow past
 * `maxBytes` it is rotated: `events.jsonl` → `.1` → `.2` ... and the oldest
 * beyond `keep` is removed, so disk use stays bounded.
 *
 * JSON.stringify escapes newlines, C0 controls and lone surrogates, so each
 * line is valid JSON and one line whatever the event holds.
 *
 * Exactly once, also across a crash: the router saves on disk that an
 * event is in flight before it hands it over, and that it is done before
 * the next one (sinks/sink.ts, `marksRepeats`). So after a crash at most one
 * event comes again, with `repeat` set, and it is written already only if it
 * is the file's last line (or, right after a rotation, the last line of
 * `.1`). The sink reads that one line on open, and cuts a torn one.
 */

import type { HarkEvent } from "../lib/event/event.ts";
import type { DeliverOptions, Sink } from "./sink.ts";
import { writeAllSync } from "../lib/util/write_all.ts";
import { cutTornLine, lastLineId } from "./file_tail.ts";

const encoder = new TextEncoder();

export interface FileSinkInit {
  path: string;
  /** Rotate before the file passes this size. */
  maxBytes: number;
  /** Rotated files to keep besides the live one. */
  keep: number;
}

export class FileSink implements Sink {
  readonly name: string;
  readonly marksRepeats = true;
  #init: FileSinkInit;
  #file?: Deno.FsFile;
  #size = 0;
  /** The id on the file's last line: the only event a repeat can be. */
  #lastId?: string;

  constructor(init: FileSinkInit) {
    this.#init = init;
    this.name = `file:${init.path}`;
  }

  async deliver(event: HarkEvent, options?: DeliverOptions): Promise<void> {
    if (!this.#file) {
      await this.#open();
      this.#size = await cutTornLine(this.#file!, this.#size);
      // Empty: the crash came right after a rotation, and the last line is in `.1`.
      this.#lastId = await lastLineId(this.#size > 0 ? this.#init.path : `${this.#init.path}.1`);
    }
    if (options?.repeat && event.id === this.#lastId) return;
    const line = encoder.encode(JSON.stringify(event) + "\n");
    if (this.#size > 0 && this.#size + line.length > this.#init.maxBytes) await this.#rotate();
    // Synchronous on purpose: an append to a local file takes microseconds,
    // while an async write waits for the event loop, which under a burst of
    // network traffic left this sink seconds behind (thousands of events).
    writeAllSync(this.#file!, line);
    this.#size += line.length;
    this.#lastId = event.id;
  }

  close(): Promise<void> {
    this.#file?.close();
    this.#file = undefined;
    return Promise.resolve();
  }

  async #open(): Promise<void> {
    this.#file = await Deno.open(this.#init.path, { read: true, append: true, create: true, mode: 0o600 });
    this.#size = (await this.#file.stat()).size;
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
