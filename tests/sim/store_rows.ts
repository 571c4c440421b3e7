/**
 * Rows in each agent's event store, read beside the running agent through
 * a read-only SQLite connection (the store runs in WAL mode, so a reader
 * never blocks it), split into membership events and the rest.
 */

import { DatabaseSync } from "node:sqlite";
import { STORE_FILE } from "../../lib/store/store.ts";

export interface StoreRows {
  total: number;
  membership: number;
}

export function storeRows(stateDir: string): StoreRows {
  const db = new DatabaseSync(`${stateDir}/${STORE_FILE}`, { readOnly: true });
  try {
    const row = db.prepare(
      "SELECT COUNT(*) AS total, COALESCE(SUM(topic GLOB 'hark.node.*'), 0) AS membership FROM events",
    ).get() as { total: number; membership: number };
    return { total: Number(row.total), membership: Number(row.membership) };
  } finally {
    db.close();
  }
}

/** Mean rows per agent over `rows`, gathered from every process. */
export function meanStoreRows(rows: StoreRows[]): StoreRows {
  const mean = (pick: (row: StoreRows) => number) => rows.reduce((sum, row) => sum + pick(row), 0) / rows.length;
  return { total: mean((row) => row.total), membership: mean((row) => row.membership) };
}
