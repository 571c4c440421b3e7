/**
 * Which desktop popup shows which notification, kept in the store so that
 * after a restart (or kill -9) a new version still replaces the popup shown
 * before, an acknowledgement still closes it, and an event shown again
 * after a crash replaces its own popup instead of showing a second one.
 *
 * A popup id means something only to the notification server that gave it:
 * each is kept with the server's identity (the bus's id and the server's
 * unique name on it, never reused while the bus lives), and an id from
 * another server is never used.
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";

/** What a desktop backend remembers across restarts. */
export interface PopupMemory {
  recall(server: string, key: string): number | undefined;
  remember(server: string, key: string, id: number): void;
  forget(key: string): void;
}

/** Popups kept; the oldest are forgotten first (the server forgets them too). */
const MAX_POPUPS = 1024;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS popups (key TEXT PRIMARY KEY, server TEXT NOT NULL, id INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS popups_at ON popups (at);
`;

export class PopupBook implements PopupMemory {
  #get: StatementSync;
  #put: StatementSync;
  #delete: StatementSync;
  #trim: StatementSync;
  #order = 0;

  constructor(db: DatabaseSync) {
    db.exec(SCHEMA);
    this.#get = db.prepare("SELECT id FROM popups WHERE key = ? AND server = ?");
    this.#put = db.prepare(
      "INSERT INTO popups (key, server, id, at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET server = excluded.server, id = excluded.id, at = excluded.at",
    );
    this.#delete = db.prepare("DELETE FROM popups WHERE key = ?");
    this.#trim = db.prepare(
      "DELETE FROM popups WHERE at <= (SELECT at FROM popups ORDER BY at DESC LIMIT 1 OFFSET ?)",
    );
    const newest = db.prepare("SELECT max(at) AS at FROM popups").get() as { at: number | null };
    this.#order = newest.at ?? 0;
  }

  recall(server: string, key: string): number | undefined {
    return (this.#get.get(key, server) as { id: number } | undefined)?.id;
  }

  remember(server: string, key: string, id: number): void {
    this.#put.run(key, server, id, ++this.#order);
    if (this.#order % 64 === 0) this.#trim.run(MAX_POPUPS);
  }

  forget(key: string): void {
    this.#delete.run(key);
  }
}
