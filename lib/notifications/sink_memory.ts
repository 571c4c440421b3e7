/**
 * What a sink keeps across restarts beyond its cursor, by scope and key:
 * the desktop's pending repeats and coalesced popups (sinks/desktop/). A
 * small table in the store's database, so it survives kill -9 with the
 * events it is about.
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";

/** The scopes desktop sinks keep: their pending repeats and their coalesced popups. */
export const DESKTOP_REPEAT_SCOPE = "desktop.repeat";
export const DESKTOP_COALESCE_SCOPE = "desktop.coalesce";

/**
 * The scopes the configured sinks read back at start: every desktop sink
 * groups events with a dedup key, and one with `repeat` keeps its repeats.
 */
export function scopesInUse(sinks: { type: string; repeat?: unknown }[]): string[] {
  const scopes = new Set<string>();
  for (const sink of sinks) {
    if (sink.type !== "desktop") continue;
    scopes.add(DESKTOP_COALESCE_SCOPE);
    if (sink.repeat !== undefined) scopes.add(DESKTOP_REPEAT_SCOPE);
  }
  return [...scopes];
}

export interface SinkMemory {
  /** Every value kept under `scope`, oldest first. */
  all(scope: string): [key: string, value: string][];
  put(scope: string, key: string, value: string): void;
  drop(scope: string, key: string): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sink_memory (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (scope, key));
`;

export class SinkMemoryBook implements SinkMemory {
  #db: DatabaseSync;
  #all: StatementSync;
  #put: StatementSync;
  #drop: StatementSync;
  #order: number;

  constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec(SCHEMA);
    this.#all = db.prepare("SELECT key, value FROM sink_memory WHERE scope = ? ORDER BY at");
    this.#put = db.prepare(
      "INSERT INTO sink_memory (scope, key, value, at) VALUES (?, ?, ?, ?) ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, at = excluded.at",
    );
    this.#drop = db.prepare("DELETE FROM sink_memory WHERE scope = ? AND key = ?");
    this.#order = (db.prepare("SELECT max(at) AS at FROM sink_memory").get() as { at: number | null }).at ?? 0;
  }

  all(scope: string): [string, string][] {
    return this.#all.all(scope).map((row) => [row.key as string, row.value as string]);
  }

  put(scope: string, key: string, value: string): void {
    this.#put.run(scope, key, value, ++this.#order);
  }

  drop(scope: string, key: string): void {
    this.#drop.run(scope, key);
  }

  /**
   * Forgets every scope but these: what a sink since removed from the config
   * (or its repeat or coalesce turned off) kept would otherwise stay forever,
   * and come back if it were turned on again months later. Returns the rows removed.
   */
  keepOnly(scopes: string[]): number {
    const list = scopes.map(() => "?").join(", ");
    return Number(this.#db.prepare(`DELETE FROM sink_memory WHERE scope NOT IN (${list})`).run(...scopes).changes);
  }
}
