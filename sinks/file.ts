/**
 * Appends each event as one JSON line. When the file would grow past
 * `maxBytes` it is rotated: `events.jsonl` → `.1` → `.2` ... and the oldest
 * beyond `keep` is removed, so disk use stays bounded.
 *
 * JSON.stringify escapes every control character and lone surrogate, so each
 * line is valid JSON and one line whatever the event holds.
 */

import type { HarkEvent } from "../lib/event.ts";
import type { Sink } from "./mod.ts";
import { writeAll } from "../lib/write_all.ts";

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
  #init: FileSinkInit;
  #file?: Deno.FsFile;
  #size = 0;

  constructor(init: FileSinkInit) {
    this.#init = init;
    this.name = `file:${init.path}`;
  }

  async deliver(event: HarkEvent): Promise<void> {
    const line = encoder.encode(JSON.stringify(event) + "\n");
    if (!this.#file) await this.#open();
    if (this.#size > 0 && this.#size + line.length > this.#init.maxBytes) await this.#rotate();
    await writeAll(this.#file!, line);
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
