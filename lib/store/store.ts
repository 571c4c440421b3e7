/**
 * The event store: every event this agent published or received, in SQLite
 * (node:sqlite, WAL) in the state dir. It gives each event a local sequence
 * number, detects duplicates across restarts, answers `hark history`, keeps
 * each sink's cursor, and forgets the oldest events past the retention
 * window or count.
 *
 * Appends are group-committed: the first append opens a transaction and
 * every write until the current task's microtasks run out joins it. A
 * commit per event cost about 80 µs; inside a transaction an insert costs
 * about 20. Whoever acts on a stored event (routing it to sinks) does so
 * from `afterCommit`, so no sink sees an event a crash could still unstore.
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { getLogger } from "@logtape/logtape";
import type { HarkEvent } from "../event/event.ts";
import { HarkError } from "../errors.ts";
import { inDir } from "../config/paths.ts";
import { NotificationBook } from "../notifications/book.ts";
import { PopupBook } from "../notifications/popups.ts";
import { SinkMemoryBook } from "../notifications/sink_memory.ts";
import { textFilter } from "./text_search.ts";

const log = getLogger(["hark", "store"]);

export const STORE_FILE = "events.db";

export interface StoreInit {
  /** Events older than this many milliseconds (by arrival) are removed. @default 7 days */
  retentionMs?: number;
  /** About this many events are kept (pruning runs in steps of a tenth, at most 1000). @default 100000 */
  maxEvents?: number;
  /**
   * About this many events of one publisher are kept, its oldest (by
   * publish time) removed first; checked in the same steps. @default 25000
   */
  maxEventsPerPublisher?: number;
  /** Cursor positions reach disk at least this often. @default 200 */
  cursorFlushMs?: number;
  /**
   * Topics of which only each publisher's newest event (by publish time) is
   * kept: the agents' periodic status, which every agent of a fleet sends
   * and would otherwise fill every store at a rate that grows with the fleet
   * (docs/scale.md). @default none
   */
  latestOnly?: readonly string[];
  now?: () => number;
}

export interface StoredEvent {
  seq: number;
  event: HarkEvent;
  /** Published before this agent joined, and caught up from a peer. */
  backfill: boolean;
}

/**
 * How far a sink got: it has taken every event up to `seq`, and those in
 * `inFlight` (all at or below `seq`) were started but not known to be done.
 */
export interface SinkProgress {
  seq: number;
  /** Oldest first. */
  inFlight: number[];
}

/** How an event arrived, beyond the event itself. */
export interface Arrival {
  /** The bytes as published; what history serves and fingerprints cover. */
  data: Uint8Array;
  /** The publisher's gossipsub signature, when this agent did not publish it. */
  signed?: { seqno: Uint8Array; signature: Uint8Array };
  backfill?: boolean;
}

/** An event as the history protocol serves it: its key, topic and signed bytes. */
export interface ServedRow {
  seq: number;
  publisher: string;
  id: string;
  topic: string;
  data: Uint8Array;
  /** Absent for events this agent published: it signs those when serving them. */
  signed?: { seqno: Uint8Array; signature: Uint8Array };
}

/** A publisher's events on one topic. */
export interface PairKey {
  topic: string;
  publisher: string;
}

/** What a store holds of one (topic, publisher) pair: how many rows, and their fingerprints' sum. */
export interface PairSummary extends PairKey {
  count: number;
  sum: number;
}

/** How far this agent has caught up with a peer's store. */
export interface SyncPoint {
  /** The peer's store id: a new store on the peer starts the count again. */
  store: string;
  /** The peer's sequence number this agent has seen everything up to. */
  seq: number;
}

export interface HistoryQuery {
  /** Only events whose time is at or after this instant (ms). */
  sinceTime?: number;
  /** Only events after this one (by local order). */
  afterSeq?: number;
  topics?: string[];
  /** The newest `limit` events, returned oldest first. */
  limit?: number;
  /** Also the scheduled events held for later (ntfy's `sched=1`, `hark history`). */
  scheduled?: boolean;
  /** Only events before this one (by local order): the page before one already read. */
  beforeSeq?: number;
  /** Only notifications whose title or body holds this text, and their clears and deletes (./text_search.ts); paged readers only. */
  text?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  publisher TEXT NOT NULL,
  id TEXT NOT NULL,
  topic TEXT NOT NULL,
  time INTEGER NOT NULL,
  received INTEGER NOT NULL,
  fingerprint INTEGER NOT NULL,
  json TEXT NOT NULL,
  data BLOB,
  seqno BLOB,
  signature BLOB,
  backfill INTEGER NOT NULL DEFAULT 0,
  UNIQUE (publisher, id)
);
CREATE INDEX IF NOT EXISTS events_topic ON events (topic, seq);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_received ON events (received);
CREATE INDEX IF NOT EXISTS events_publisher_time ON events (publisher, time);
-- A latestOnly topic's newest row per publisher in one lookup; by (publisher, time) alone it was a scan of every row
-- a busy publisher has stored, on each status that arrives.
CREATE INDEX IF NOT EXISTS events_publisher_topic_time ON events (publisher, topic, time);
CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL, in_flight TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS syncs (peer TEXT PRIMARY KEY, store TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (name TEXT PRIMARY KEY, peer TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS followed (topic TEXT PRIMARY KEY, left_at INTEGER);
`;

/** A publisher's newest publish time on a topic (for latestOnly topics). */
export const NEWEST_ON_TOPIC = "SELECT MAX(time) AS time FROM events WHERE publisher = ? AND topic = ?";

/** Columns added after the first release of the schema, for stores made before them. */
const ADDED_COLUMNS: Record<string, string> = {
  data: "BLOB",
  seqno: "BLOB",
  signature: "BLOB",
  backfill: "INTEGER NOT NULL DEFAULT 0",
  // A scheduled event: its due time (ms), and whether it is held: 1 until due, 2 for good (replaced,
  // acknowledged or deleted before it was due). Sinks and readers see only held = 0.
  due: "INTEGER",
  held: "INTEGER NOT NULL DEFAULT 0",
};
/** Created after the columns exist, for stores made before them. */
/** Compiled statements kept per store; queries built per call (topic lists, searches) vary. */
const MAX_CACHED_STATEMENTS = 64;

const HELD_INDEX = "CREATE INDEX IF NOT EXISTS events_held ON events (due) WHERE held = 1";

/**
 * SQL for topic names or globs. SQLite's GLOB has the shell's `*` and `?`,
 * case-sensitive, and topic names hold no other character it treats
 * specially, so a plain name matches only itself.
 */
function globFilter(topics: string[] | undefined): string {
  if (!topics) return "AND held = 0";
  if (topics.length === 0) return "AND 0";
  return `AND held = 0 AND (${topics.map(() => "topic GLOB ?").join(" OR ")})`;
}

/** SQL (after a WHERE) for a history query's time, exact topic names, upper bound and text; `afterSeq` and `limit` are the reader's. */
function historyFilter(query: HistoryQuery): { filter: string; params: (string | number)[] } {
  // Held events: pending ones only when asked for, those held for good never.
  const parts: string[] = [query.scheduled ? "AND held < 2" : "AND held = 0"];
  const params: (string | number)[] = [];
  if (query.sinceTime !== undefined) {
    parts.push("AND time >= ?");
    params.push(query.sinceTime);
  }
  if (query.topics) {
    parts.push(query.topics.length ? `AND topic IN (${query.topics.map(() => "?").join(", ")})` : "AND 0");
    params.push(...query.topics);
  }
  if (query.beforeSeq !== undefined) {
    parts.push("AND seq < ?");
    params.push(query.beforeSeq);
  }
  if (query.text !== undefined) {
    const text = textFilter(query.text);
    parts.push(text.filter);
    params.push(...text.params);
  }
  return { filter: parts.join(" "), params };
}

function toStored(row: Record<string, unknown>): StoredEvent {
  return { seq: row.seq as number, event: JSON.parse(row.json as string), backfill: row.backfill === 1 };
}

/** Columns added to the cursors table after its first release. */
const ADDED_CURSOR_COLUMNS: Record<string, string> = {
  in_flight: "TEXT NOT NULL DEFAULT '[]'",
};

function addMissingColumns(db: DatabaseSync, table: string, columns: Record<string, string>): void {
  const present = new Set((db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name));
  for (const [name, type] of Object.entries(columns)) {
    if (!present.has(name)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
  }
}

/** A damaged list reads as empty: it only marks possible repeats. */
function parseInFlight(text: string): number[] {
  try {
    const list = JSON.parse(text);
    return Array.isArray(list) ? list.filter((seq) => Number.isInteger(seq)) : [];
  } catch {
    return [];
  }
}

export class EventStore {
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();
  #init: Required<Omit<StoreInit, "now" | "latestOnly">> & { now: () => number };
  #insert: StatementSync;
  #latestOnly: ReadonlySet<string>;
  /** The newest publish time stored for a publisher on a topic. */
  #newestOf: StatementSync;
  #dropOlder: StatementSync;
  #fingerprint: StatementSync;
  #setCursor: StatementSync;
  #pendingCursors = new Map<string, SinkProgress>();
  #flushTimer?: ReturnType<typeof setTimeout>;
  #insertsSincePrune = 0;
  /** Inserts per publisher since its quota was last checked; cleared by every prune. */
  #insertsByPublisher = new Map<string, number>();
  /** Whether a quota step between prunes removed events, whose notifications the next prune forgets. */
  #removedSincePrune = false;
  #closed = false;
  /** An open group transaction, and what runs once it commits. */
  #group?: (() => void)[];
  /** A random name for this store, so peers notice when it is replaced. */
  readonly id: string;
  /** When this store was made: events published before it are backfill. */
  readonly createdAt: number;
  /** The state of each notification (topic, sequence): open, replaced, cleared or deleted. */
  readonly notifications: NotificationBook;
  /** Which desktop popup shows which notification, across restarts. */
  readonly popups: PopupBook;
  /** What sinks keep across restarts: the desktop's pending repeats and coalesced popups. */
  readonly sinkMemory: SinkMemoryBook;

  private constructor(db: DatabaseSync, init: StoreInit) {
    this.#db = db;
    this.#init = {
      retentionMs: init.retentionMs ?? 7 * 86_400_000,
      maxEvents: init.maxEvents ?? 100_000,
      maxEventsPerPublisher: init.maxEventsPerPublisher ?? 25_000,
      cursorFlushMs: init.cursorFlushMs ?? 200,
      now: init.now ?? Date.now,
    };
    this.#latestOnly = new Set(init.latestOnly ?? []);
    this.#newestOf = db.prepare(NEWEST_ON_TOPIC);
    this.#dropOlder = db.prepare("DELETE FROM events WHERE publisher = ? AND topic = ? AND seq < ?");
    this.#insert = db.prepare(
      `INSERT OR IGNORE INTO events (publisher, id, topic, time, received, fingerprint, json, data, seqno, signature, backfill, due, held)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
    );
    this.id = this.#meta("id", () => crypto.randomUUID());
    this.createdAt = Number(this.#meta("created", () => String(this.#init.now())));
    this.#fingerprint = db.prepare("SELECT fingerprint FROM events WHERE publisher = ? AND id = ?");
    this.notifications = new NotificationBook(db);
    this.popups = new PopupBook(db);
    this.sinkMemory = new SinkMemoryBook(db);
    this.#setCursor = db.prepare(
      "INSERT INTO cursors (sink, seq, in_flight) VALUES (?, ?, ?) ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq, in_flight = excluded.in_flight",
    );
  }

  /** Opens (creating if needed) the store in `stateDir`. */
  static open(stateDir: string, init: StoreInit = {}): EventStore {
    const path = inDir(stateDir, STORE_FILE);
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path);
      // WAL with NORMAL sync survives a crash of the process (not of the OS)
      // without an fsync per event.
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 2000;");
      db.exec(SCHEMA);
      addMissingColumns(db, "events", ADDED_COLUMNS);
      addMissingColumns(db, "cursors", ADDED_CURSOR_COLUMNS);
      db.exec(HELD_INDEX);
      const store = new EventStore(db, init);
      store.prune();
      return store;
    } catch (error) {
      db?.close();
      throw new HarkError(`Cannot open the event store "${path}": ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Stores an event; returns its sequence number, or undefined if this
   * publisher's event with this id is already stored, or on a `latestOnly`
   * topic a newer one of its publisher is.
   */
  append(event: HarkEvent, fingerprint: number, arrival?: Arrival): number | undefined {
    this.#joinGroup();
    const latestOnly = this.#latestOnly.has(event.topic);
    // One newer than it is stored: this one says nothing that one does not.
    if (latestOnly && this.#isSuperseded(event)) return undefined;
    const row = this.#insert.get(
      event.source.peer,
      event.id,
      event.topic,
      Date.parse(event.time),
      this.#init.now(),
      fingerprint,
      JSON.stringify(event),
      arrival?.data ?? null,
      arrival?.signed?.seqno ?? null,
      arrival?.signed?.signature ?? null,
      arrival?.backfill ? 1 : 0,
      event.due === undefined ? null : Date.parse(event.due),
      // Held until due, whoever published it and however it arrived (live, catch-up, after a restart).
      event.due === undefined ? 0 : 1,
    ) as { seq: number } | undefined;
    if (!row) return undefined;
    if (latestOnly) this.#dropOlder.run(event.source.peer, event.topic, row.seq);
    // In the same transaction as the event: a crash keeps both or neither.
    this.notifications.observe(event, row.seq, this.#init.now());
    // Prune in steps: at most a tenth of a cap over it, never a scan per insert.
    const publisherStep = Math.min(1000, Math.ceil(this.#init.maxEventsPerPublisher / 10));
    const publisherInserts = (this.#insertsByPublisher.get(event.source.peer) ?? 0) + 1;
    this.#insertsByPublisher.set(event.source.peer, publisherInserts);
    if (publisherInserts >= publisherStep) this.#prunePublisher(event.source.peer);
    if (++this.#insertsSincePrune >= Math.min(1000, Math.ceil(this.#init.maxEvents / 10))) this.prune();
    return row.seq;
  }

  #isSuperseded(event: HarkEvent): boolean {
    const newest = (this.#newestOf.get(event.source.peer, event.topic) as { time: number | null }).time;
    return newest !== null && newest >= Date.parse(event.time);
  }

  /**
   * Runs `action` once everything appended so far is committed: at once when
   * nothing is pending, else right after the group's commit.
   */
  afterCommit(action: () => void): void {
    if (this.#group) this.#group.push(action);
    else action();
  }

  /** Commits the open group now (before reading from another connection, or closing). */
  commit(): void {
    const group = this.#group;
    if (!group) return;
    this.#group = undefined;
    if (!this.#closed) this.#db.exec("COMMIT");
    for (const action of group) {
      try {
        action();
      } catch (error) {
        log.error("After a commit: {error}", { error: (error as Error).message });
      }
    }
  }

  #joinGroup(): void {
    if (this.#group) return;
    this.#db.exec("BEGIN");
    this.#group = [];
    queueMicrotask(() => this.commit());
  }

  /** The fingerprint of a stored event, or undefined if it is not stored. */
  fingerprint(publisher: string, id: string): number | undefined {
    const row = this.#fingerprint.get(publisher, id) as { fingerprint: number } | undefined;
    return row?.fingerprint;
  }

  /**
   * Events matching `query`, oldest first. Commits first, so what it returns
   * has been handed to followers already: a follower added right after the
   * query gets each later event once, and none twice.
   */
  query(query: HistoryQuery = {}): StoredEvent[] {
    this.commit();
    const where: string[] = [query.scheduled ? "held < 2" : "held = 0"];
    const params: (string | number)[] = [];
    if (query.sinceTime !== undefined) {
      where.push("time >= ?");
      params.push(query.sinceTime);
    }
    if (query.afterSeq !== undefined) {
      where.push("seq > ?");
      params.push(query.afterSeq);
    }
    if (query.topics?.length) {
      where.push(`topic IN (${query.topics.map(() => "?").join(", ")})`);
      params.push(...query.topics);
    }
    const filter = where.length ? `WHERE ${where.join(" AND ")}` : "";
    // With a limit, the newest `limit` rows are wanted, still returned oldest first.
    const sql = query.limit === undefined
      ? `SELECT seq, json, backfill FROM events ${filter} ORDER BY seq`
      : `SELECT * FROM (SELECT seq, json, backfill FROM events ${filter} ORDER BY seq DESC LIMIT ?) ORDER BY seq`;
    if (query.limit !== undefined) params.push(query.limit);
    return this.#prepared(sql).all(...params).map(toStored);
  }

  /**
   * The sizes (bytes of stored JSON) of the first `limit` events after
   * `afterSeq` that match `query`: cheap to read, so a reader can choose a
   * page that fits its budget before it loads the events themselves.
   * Commits first, as query() does.
   */
  sizesAfter(afterSeq: number, query: HistoryQuery, limit: number): { seq: number; bytes: number }[] {
    this.commit();
    const { filter, params } = historyFilter(query);
    return this.#prepared(
      `SELECT seq, length(CAST(json AS BLOB)) AS bytes FROM events WHERE seq > ? ${filter} ORDER BY seq LIMIT ?`,
    ).all(afterSeq, ...params, limit) as { seq: number; bytes: number }[];
  }

  /** The events after `afterSeq` up to and including `uptoSeq` that match `query`, oldest first. */
  between(afterSeq: number, uptoSeq: number, query: HistoryQuery): StoredEvent[] {
    this.commit();
    const { filter, params } = historyFilter(query);
    return this.#prepared(
      `SELECT seq, json, backfill FROM events WHERE seq > ? AND seq <= ? ${filter} ORDER BY seq`,
    ).all(afterSeq, uptoSeq, ...params).map(toStored);
  }

  /**
   * Where a reader of the newest `limit` events matching `query` starts:
   * the sequence number just before the oldest of them (0 when fewer are stored).
   */
  seqBeforeNewest(query: HistoryQuery, limit: number): number {
    this.commit();
    const { filter, params } = historyFilter(query);
    const row = this.#prepared(
      `SELECT seq FROM events WHERE 1 ${filter} ORDER BY seq DESC LIMIT 1 OFFSET ?`,
    ).get(...params, limit) as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  /**
   * The first `limit` events after `seq` on topics matching `topics`
   * (names or globs such as `builds.*`; all topics when undefined).
   */
  after(seq: number, topics: string[] | undefined, limit: number): StoredEvent[] {
    const topicFilter = globFilter(topics);
    return this.#prepared(
      `SELECT seq, json, backfill FROM events WHERE seq > ? ${topicFilter} ORDER BY seq LIMIT ?`,
    ).all(seq, ...(topics ?? []), limit).map(toStored);
  }

  /** The stored events with these sequence numbers, oldest first; pruned and held ones are left out. */
  at(seqs: number[]): StoredEvent[] {
    if (seqs.length === 0) return [];
    return this.#prepared(
      `SELECT seq, json, backfill FROM events WHERE held = 0 AND seq IN (${
        seqs.map(() => "?").join(", ")
      }) ORDER BY seq`,
    ).all(...seqs).map(toStored);
  }

  /** The earliest due time (ms) after `after` of the events held until due, or undefined when none is. */
  nextDue(after = -Infinity): number | undefined {
    const row = this.#prepared("SELECT min(due) AS due FROM events WHERE held = 1 AND due > ?").get(after) as {
      due: number | null;
    };
    return row.due ?? undefined;
  }

  /**
   * The events held until due that will be delivered (not replaced,
   * acknowledged or deleted since), soonest first: the first `limit`, and
   * how many there are. Held events are few (3 days at most, each under
   * its publisher's rate limit), so they are read whole.
   */
  pending(limit: number): { events: HarkEvent[]; count: number } {
    const rows = this.#prepared("SELECT json FROM events WHERE held = 1 ORDER BY due, seq").all();
    const live = rows.map((row) => JSON.parse(row.json as string) as HarkEvent)
      .filter((event) => !this.notifications.superseded(event));
    return { events: live.slice(0, limit), count: live.length };
  }

  /**
   * Releases the held events due by `now` (and after `after`), soonest first, in the open group
   * transaction (act on them from `afterCommit`). One replaced, acknowledged
   * or deleted since it was published is held for good and never delivered;
   * any other moves to a new sequence number, after every event stored so
   * far, so each sink's cursor and each reader meets it once, as it would
   * a new event, and a crash before or after the commit neither loses it
   * nor repeats it.
   */
  releaseDue(now: number, after = -Infinity): { released: StoredEvent[]; withdrawn: HarkEvent[] } {
    const rows = this.#prepared(
      "SELECT seq, json FROM events WHERE held = 1 AND due <= ? AND due > ? ORDER BY due, seq",
    ).all(now, after) as { seq: number; json: string }[];
    const released: StoredEvent[] = [];
    const withdrawn: HarkEvent[] = [];
    if (rows.length === 0) return { released, withdrawn };
    this.#joinGroup();
    for (const row of rows) {
      const event = JSON.parse(row.json) as HarkEvent;
      if (this.notifications.superseded(event)) {
        this.#prepared("UPDATE events SET held = 2 WHERE seq = ?").run(row.seq);
        withdrawn.push(event);
        continue;
      }
      const seq = this.lastSeq() + 1;
      // Due before this store existed: history, as an event published then would be.
      const backfill = Date.parse(event.due!) < this.createdAt;
      this.#prepared("UPDATE events SET seq = ?, held = 0, received = ?, backfill = ? WHERE seq = ?")
        .run(seq, this.#init.now(), backfill ? 1 : 0, row.seq);
      this.#prepared("UPDATE sqlite_sequence SET seq = ? WHERE name = 'events' AND seq < ?").run(seq, seq);
      this.notifications.moved(row.seq, seq);
      released.push({ seq, event, backfill });
    }
    return { released, withdrawn };
  }

  /**
   * Keys of the first `limit` events after `seq` on `topics`, for a peer
   * catching up; every row, held ones included (`pairSummaries` counts the
   * same rows). Rows up to `skip.upto` of the (topic, publisher) pairs in
   * `skip.pairs` are left out: the peer holds the same of those already.
   */
  keysAfter(
    seq: number,
    topics: string[],
    limit: number,
    skip?: { pairs: readonly PairKey[]; upto: number },
  ): { seq: number; publisher: string; id: string }[] {
    if (topics.length === 0) return [];
    const inTopics = `topic IN (${topics.map(() => "?").join(", ")})`;
    if (!skip || skip.pairs.length === 0) {
      return this.#prepared(`SELECT seq, publisher, id FROM events WHERE seq > ? AND ${inTopics} ORDER BY seq LIMIT ?`)
        .all(seq, ...topics, limit) as { seq: number; publisher: string; id: string }[];
    }
    // One parameter for all pairs (a JSON list), which SQLite reads into a lookup table once per query: a list
    // of 10,000 pairs as parameters would be a new statement each time, and past SQLite's parameter limit.
    return this.#prepared(
      `SELECT seq, publisher, id FROM events WHERE seq > ? AND ${inTopics}
         AND NOT (seq <= ? AND (topic, publisher) IN (
           SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)))
       ORDER BY seq LIMIT ?`,
    ).all(
      seq,
      ...topics,
      skip.upto,
      JSON.stringify(skip.pairs.map(({ topic, publisher }) => [topic, publisher])),
      limit,
    ) as { seq: number; publisher: string; id: string }[];
  }

  /**
   * Per (topic, publisher) on `topics`: how many rows are stored and the sum
   * of their fingerprints, over the rows `keysAfter` offers from the start
   * (held ones included), the largest counts first, at most `limit`. Two
   * stores holding the same events of a pair agree on both, since an
   * event's fingerprint is a hash of its bytes as published. The sum is
   * taken modulo 2^53 so it stays an exact number in JSON however large a
   * store grows (below about two million rows a pair, it is the sum itself).
   * A pair with a negative fingerprint (none is, unless written by hand) is
   * left out, and so offered whole.
   */
  pairSummaries(topics: string[], limit = -1): PairSummary[] {
    if (topics.length === 0) return [];
    return this.#prepared(
      `SELECT topic, publisher, count(*) AS count, sum(fingerprint) % 9007199254740992 AS sum
       FROM events WHERE topic IN (${topics.map(() => "?").join(", ")})
       GROUP BY topic, publisher HAVING min(fingerprint) >= 0 ORDER BY count DESC, topic, publisher LIMIT ?`,
    ).all(...topics, limit) as unknown as PairSummary[];
  }

  /**
   * The stored events with these keys that can be served (bytes kept), in
   * local order. One at a time: a peer may ask for hundreds of events of up
   * to a MiB each, and the responder sends each before the next is loaded.
   */
  *served(keys: { publisher: string; id: string }[]): Generator<ServedRow> {
    const locate = this.#prepared("SELECT seq FROM events WHERE publisher = ? AND id = ? AND data IS NOT NULL");
    const seqs: number[] = [];
    for (const key of keys) {
      const row = locate.get(key.publisher, key.id) as { seq: number } | undefined;
      if (row) seqs.push(row.seq);
    }
    const select = this.#prepared(
      "SELECT seq, publisher, id, topic, data, seqno, signature FROM events WHERE seq = ? AND data IS NOT NULL",
    );
    for (const seq of seqs.sort((a, b) => a - b)) {
      const row = select.get(seq) as
        | (Omit<ServedRow, "signed"> & { seqno: Uint8Array | null; signature: Uint8Array | null })
        | undefined;
      // Pruned since it was located.
      if (!row) continue;
      const { seqno, signature, ...rest } = row;
      yield seqno && signature ? { ...rest, signed: { seqno, signature } } : rest;
    }
  }

  /** How many events of `publisher` are stored with a publish time from `fromMs` to `toMs`, both included. */
  countByPublisher(publisher: string, fromMs: number, toMs: number): number {
    const row = this.#prepared("SELECT count(*) AS n FROM events WHERE publisher = ? AND time BETWEEN ? AND ?")
      .get(publisher, fromMs, toMs) as { n: number };
    return row.n;
  }

  /** Whether an event with this key is stored. */
  has(publisher: string, id: string): boolean {
    return this.fingerprint(publisher, id) !== undefined;
  }

  /** How far this agent has caught up with `peer`, or undefined if it never has. */
  syncPoint(peer: string): SyncPoint | undefined {
    return this.#prepared("SELECT store, seq FROM syncs WHERE peer = ?").get(peer) as SyncPoint | undefined;
  }

  setSyncPoint(peer: string, point: SyncPoint): void {
    if (this.#closed) return;
    this.commit();
    this.#prepared(
      "INSERT INTO syncs (peer, store, seq) VALUES (?, ?, ?) ON CONFLICT (peer) DO UPDATE SET store = excluded.store, seq = excluded.seq",
    ).run(peer, point.store, point.seq);
  }

  /** Host names and the peer each is bound to (lib/mesh/host_names.ts). */
  hostBindings(): { name: string; peer: string }[] {
    return this.#prepared("SELECT name, peer FROM hosts").all() as { name: string; peer: string }[];
  }

  /** Binds `name` to `peer` alone: any other name of `peer` is released. */
  bindHost(name: string, peer: string): void {
    if (this.#closed) return;
    this.commit();
    this.#db.exec("BEGIN");
    try {
      this.#prepared("DELETE FROM hosts WHERE peer = ?").run(peer);
      this.#prepared("INSERT OR REPLACE INTO hosts (name, peer) VALUES (?, ?)").run(name, peer);
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** A value from the meta table, stored from `initial()` the first time. */
  #meta(key: string, initial: () => string): string {
    const row = this.#prepared("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    if (row) return row.value;
    const value = initial();
    this.#prepared("INSERT INTO meta (key, value) VALUES (?, ?)").run(key, value);
    return value;
  }

  /** How many events after `seq` on topics matching `topics` (names or globs) are stored. */
  countAfter(seq: number, topics: string[] | undefined): number {
    const topicFilter = globFilter(topics);
    const row = this.#prepared(`SELECT count(*) AS n FROM events WHERE seq > ? ${topicFilter}`)
      .get(seq, ...(topics ?? [])) as { n: number };
    return row.n;
  }

  /** Per topic and publisher: the stored events, the newest one's time (ms) and its publisher's host. */
  topicStats(): { topic: string; peer: string; host?: string; events: number; last: number }[] {
    this.commit();
    const rows = this.#prepared(
      // json_valid first: json_extract throws "malformed JSON" on a row nested
      // past SQLite's depth limit (stored before the event model bounded it),
      // and one such row would break the listing for the whole retention.
      `SELECT topic, publisher, count(*) AS n, max(time) AS last,
         max(CASE WHEN json_valid(json) THEN json_extract(json, '$.source.host') END) AS host
       FROM events GROUP BY topic, publisher ORDER BY topic, last DESC`,
    ).all() as { topic: string; publisher: string; n: number; last: number; host: string | null }[];
    return rows.map((row) => ({
      topic: row.topic,
      peer: row.publisher,
      host: row.host ?? undefined,
      events: row.n,
      last: row.last,
    }));
  }

  /** The local sequence number of the event with this id, from any publisher. */
  seqOf(id: string): number | undefined {
    const row = this.#prepared("SELECT seq FROM events WHERE id = ? ORDER BY seq LIMIT 1").get(id) as
      | { seq: number }
      | undefined;
    return row?.seq;
  }

  /**
   * The highest sequence number ever assigned (0 for a new store). An
   * ignored duplicate uses a number too, so numbers may have gaps; only
   * their order matters.
   */
  lastSeq(): number {
    const row = this.#prepared("SELECT max(seq) AS seq FROM events").get() as { seq: number | null };
    // The autoincrement counter survives pruning; fall back to it so sequence numbers never go back.
    const counter = this.#prepared("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as
      | { seq: number }
      | undefined;
    return Math.max(row.seq ?? 0, counter?.seq ?? 0);
  }

  count(): number {
    return (this.#prepared("SELECT count(*) AS n FROM events").get() as { n: number }).n;
  }

  /** Where a sink stopped, or undefined for a sink the store has not seen. */
  cursor(sink: string): number | undefined {
    return this.progress(sink)?.seq;
  }

  /** Where a sink stopped and what it had started past that point, or undefined for a sink the store has not seen. */
  progress(sink: string): SinkProgress | undefined {
    const pending = this.#pendingCursors.get(sink);
    if (pending) return { seq: pending.seq, inFlight: [...pending.inFlight] };
    const row = this.#prepared("SELECT seq, in_flight FROM cursors WHERE sink = ?").get(sink) as
      | { seq: number; in_flight: string }
      | undefined;
    if (!row) return undefined;
    return { seq: row.seq, inFlight: parseInFlight(row.in_flight) };
  }

  /**
   * Records that `sink` has taken everything up to `seq`, of which the
   * events in `inFlight` are started but not done. Writes are gathered and reach disk
   * within `cursorFlushMs`; `saveCursor` writes at once.
   */
  setCursor(sink: string, seq: number, inFlight: number[] = []): void {
    if (this.#closed) return;
    this.#pendingCursors.set(sink, { seq, inFlight: [...inFlight] });
    this.#flushTimer ??= setTimeout(() => this.flush(), this.#init.cursorFlushMs);
  }

  /**
   * `setCursor`, on disk before it returns (with every other pending
   * cursor, in one transaction). For sinks whose effects a crash must not
   * repeat: the router saves what it starts before it starts it.
   */
  saveCursor(sink: string, seq: number, inFlight: number[]): void {
    if (this.#closed) return;
    this.#pendingCursors.set(sink, { seq, inFlight: [...inFlight] });
    this.flush();
  }

  /** Writes pending cursor positions now. */
  flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#closed || this.#pendingCursors.size === 0) return;
    this.commit();
    this.#db.exec("BEGIN");
    try {
      for (const [sink, { seq, inFlight }] of this.#pendingCursors) {
        this.#setCursor.run(sink, seq, JSON.stringify(inFlight));
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
    this.#pendingCursors.clear();
  }

  /**
   * Topics followed on the fly (lib/follow/): when each one's last
   * subscriber left, null while one is connected.
   */
  followedTopics(): { topic: string; leftAt: number | null }[] {
    return this.#prepared("SELECT topic, left_at AS leftAt FROM followed ORDER BY topic").all() as {
      topic: string;
      leftAt: number | null;
    }[];
  }

  saveFollowed(topic: string, leftAt: number | null): void {
    if (this.#closed) return;
    this.commit();
    this.#prepared(
      "INSERT INTO followed (topic, left_at) VALUES (?, ?) ON CONFLICT (topic) DO UPDATE SET left_at = excluded.left_at",
    ).run(topic, leftAt);
  }

  forgetFollowed(topic: string): void {
    if (this.#closed) return;
    this.commit();
    this.#prepared("DELETE FROM followed WHERE topic = ?").run(topic);
  }

  /** Removes events past the retention window or count, oldest first. */
  prune(): number {
    this.#insertsSincePrune = 0;
    const cutoff = this.#init.now() - this.#init.retentionMs;
    const byAge = this.#prepared("DELETE FROM events WHERE received < ?").run(cutoff).changes;
    // Users' events and the agents' own (`hark.*`: membership, escalation
    // markers) are counted apart, so a large fleet's joins and statuses never
    // push a user's events out of the store, nor a burst of events the fleet's.
    const byCount = this.#pruneBeyondCount(false) + this.#pruneBeyondCount(true);
    let byPublisher = 0;
    this.#insertsByPublisher.clear();
    const crowding = this.#prepared("SELECT publisher FROM events GROUP BY publisher HAVING count(*) > ?")
      .all(this.#init.maxEventsPerPublisher) as { publisher: string }[];
    for (const { publisher } of crowding) byPublisher += this.#prunePublisher(publisher);
    const removed = Number(byAge) + Number(byCount) + byPublisher;
    this.notifications.prune(cutoff, removed > 0 || this.#removedSincePrune);
    this.#removedSincePrune = false;
    if (removed > 0) log.debug("Removed {count} events past retention", { count: removed });
    return removed;
  }

  /** Removes the oldest of users' events, or of the agents' own, beyond `maxEvents`. */
  #pruneBeyondCount(reserved: boolean): number {
    const kind = reserved ? "topic >= 'hark.' AND topic < 'hark/'" : "NOT (topic >= 'hark.' AND topic < 'hark/')";
    return Number(
      this.#prepared(
        `DELETE FROM events WHERE ${kind} AND seq <= (
           SELECT seq FROM events WHERE ${kind} ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
      ).run(this.#init.maxEvents).changes,
    );
  }

  /**
   * Removes a publisher's oldest events (by publish time) beyond its quota,
   * so one publisher cannot push everyone else's events out of the store.
   */
  #prunePublisher(publisher: string): number {
    this.#insertsByPublisher.delete(publisher);
    const removed = Number(
      this.#prepared(
        `DELETE FROM events WHERE seq IN (
           SELECT seq FROM events WHERE publisher = ? ORDER BY time DESC, seq DESC LIMIT -1 OFFSET ?)`,
      ).run(publisher, this.#init.maxEventsPerPublisher).changes,
    );
    if (removed > 0) {
      this.#removedSincePrune = true;
      log.debug("Removed {count} events of {publisher} over its quota", { count: removed, publisher });
    }
    return removed;
  }

  /**
   * A statement for `sql`, compiled once: an agent serving catch-up runs the
   * same few queries for every session, and compiling them each time was
   * the store's largest cost in an idle fleet. Queries built per call (a
   * list of topics) are cached too, up to a bound.
   */
  #prepared(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      if (this.#statements.size >= MAX_CACHED_STATEMENTS) this.#statements.clear();
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Flushes cursors and closes the database. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.commit();
    this.flush();
    this.#closed = true;
    this.#db.close();
  }
}
