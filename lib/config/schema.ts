/**
 * What a sink or source kind tells the config reader about itself. Each
 * kind keeps its schema in a light module next to it (sinks/file_config.ts,
 * lib/sources/watch_config.ts, ...), listed in its family's registry, so
 * adding a kind touches its own files and one registry line. Schemas import
 * nothing of the kind's implementation: reading a config must not load
 * D-Bus or a Worker.
 */

import type { KeyPath } from "./locate.ts";
import type { Fail, FieldSpec } from "./fields.ts";

/** Where a kind's entry was read from, for checks after its keys are read. */
export interface EntryContext {
  /** The entry's place in the config, e.g. `["sink", 2]`. */
  path: KeyPath;
  /** The entry's table as written. */
  table: Record<string, unknown>;
  fail: Fail;
  /** The config file's path: relative paths in an entry are relative to it. */
  source: string;
}

export interface KindSchema<Entry> {
  /** Its keys beyond those every entry of its family has. */
  fields: Record<string, FieldSpec>;
  /** Keys it cannot do without, each with an example for the error. */
  required?: [key: string, example: string][];
  /** Checks and rewrites that need more than one key, or the config file's place. */
  afterRead?(entry: Partial<Entry>, context: EntryContext): void;
}

export interface SinkKindSchema<Sink> extends KindSchema<Sink> {
  /** Values for the keys it declares when no layer sets them. */
  defaults?: Partial<Sink>;
  /** Defaults that depend on where the agent keeps its state. */
  resolve?(entry: Partial<Sink>, stateDir: string): Partial<Sink>;
  /**
   * Keys only an entry of this kind carries once resolved. Every other key
   * of every kind is on every resolved sink, so that all sinks read one shape.
   */
  ownKeys?: readonly string[];
}
