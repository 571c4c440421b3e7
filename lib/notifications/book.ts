/**
 * Notifications with a life: the one place that answers "what is the
 * current state of (topic, sequence)?". Every event is a step in the life of
 * one notification, keyed per topic by its `sequence` (or, without one, its
 * own id, as in ntfy): a message opens it or replaces it, a clear
 * acknowledges it, a delete removes it.
 *
 * The newest step wins, by event time and then id, whatever order the steps
 * arrive in: an acknowledgement caught up before the event it acknowledges
 * still wins, and every agent reaches the same state. A message newer than
 * an acknowledgement opens the notification again (a deploy that fails
 * after someone acknowledged "started").
 *
 * The state lives in the store's database and is written in the same
 * transaction as the event, so a crash never leaves the two apart. Only
 * events with a sequence and acknowledgements get a row: an ordinary event
 * that nobody acknowledged is simply open.
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { EventKind, EventSource, HarkEvent } from "../event/event.ts";

export type NotificationState = "open" | "cleared" | "deleted";

export interface NotificationStatus {
  topic: string;
  sequence: string;
  state: NotificationState;
  /** The newest step: the one that decides the state. */
  newest: { id: string; kind: EventKind; time: number; seq: number; source: EventSource };
  /** The local sequence number of the newest message version, if one arrived. */
  messageSeq?: number;
  /** How many message versions arrived. */
  versions: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS notifications (
  topic TEXT NOT NULL,
  sequence TEXT NOT NULL,
  kind TEXT NOT NULL,
  time INTEGER NOT NULL,
  id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  source TEXT NOT NULL,
  message_seq INTEGER,
  message_time INTEGER,
  message_id TEXT,
  versions INTEGER NOT NULL DEFAULT 0,
  received INTEGER NOT NULL,
  PRIMARY KEY (topic, sequence)
);
CREATE INDEX IF NOT EXISTS notifications_received ON notifications (received);
`;

/** The notification an event belongs to: its sequence, or its own id. */
export function sequenceOf(event: HarkEvent): string {
  return event.sequence ?? event.id;
}

/** Whether an event is a message (not an acknowledgement or a deletion). */
export function isMessage(event: HarkEvent): boolean {
  return event.kind === undefined || event.kind === "message";
}

const STATE_OF: Record<EventKind, NotificationState> = { message: "open", clear: "cleared", delete: "deleted" };

interface Row {
  kind: EventKind;
  time: number;
  id: string;
  seq: number;
  source: string;
  message_seq: number | null;
  message_time: number | null;
  message_id: string | null;
  versions: number;
}

/** Whether step (time, id) comes after step (otherTime, otherId). */
function newer(time: number, id: string, otherTime: number, otherId: string): boolean {
  return time > otherTime || (time === otherTime && id > otherId);
}

export class NotificationBook {
  #get: StatementSync;
  #put: StatementSync;
  #bySequence: StatementSync;
  #bySequenceOnTopic: StatementSync;
  #eventsById?: StatementSync;
  #eventsByIdOnTopic?: StatementSync;
  #moveSeq: StatementSync;
  #moveMessageSeq: StatementSync;
  #pruneByAge: StatementSync;
  #pruneOrphans?: StatementSync;
  #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec(SCHEMA);
    // Prepared once: `hark ack` and every released scheduled event use them.
    this.#bySequence = db.prepare("SELECT topic FROM notifications WHERE sequence = ?");
    this.#bySequenceOnTopic = db.prepare("SELECT topic FROM notifications WHERE sequence = ? AND topic = ?");
    this.#moveSeq = db.prepare("UPDATE notifications SET seq = ? WHERE seq = ?");
    this.#moveMessageSeq = db.prepare("UPDATE notifications SET message_seq = ? WHERE message_seq = ?");
    this.#pruneByAge = db.prepare("DELETE FROM notifications WHERE received < ?");
    this.#get = db.prepare(
      "SELECT kind, time, id, seq, source, message_seq, message_time, message_id, versions FROM notifications WHERE topic = ? AND sequence = ?",
    );
    this.#put = db.prepare(
      `INSERT INTO notifications (topic, sequence, kind, time, id, seq, source, message_seq, message_time, message_id, versions, received)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (topic, sequence) DO UPDATE SET kind = excluded.kind, time = excluded.time, id = excluded.id,
         seq = excluded.seq, source = excluded.source, message_seq = excluded.message_seq,
         message_time = excluded.message_time, message_id = excluded.message_id, versions = excluded.versions,
         received = excluded.received`,
    );
  }

  /**
   * Takes a newly stored event (local number `seq`) into its notification's
   * state. Call once per stored event, inside the transaction that stores it.
   */
  observe(event: HarkEvent, seq: number, received: number): void {
    const message = isMessage(event);
    const topic = event.topic;
    const sequence = sequenceOf(event);
    const time = Date.parse(event.time);
    const row = this.#get.get(topic, sequence) as Row | undefined;
    // An ordinary message without a key is open until someone acknowledges it: no row needed.
    if (message && event.sequence === undefined && !row) return;
    const next: Row = row ? { ...row } : {
      kind: event.kind ?? "message",
      time,
      id: event.id,
      seq,
      source: JSON.stringify(event.source),
      message_seq: null,
      message_time: null,
      message_id: null,
      versions: 0,
    };
    if (row && newer(time, event.id, row.time, row.id)) {
      Object.assign(next, {
        kind: event.kind ?? "message",
        time,
        id: event.id,
        seq,
        source: JSON.stringify(event.source),
      });
    }
    if (message) {
      next.versions++;
      if (next.message_time === null || newer(time, event.id, next.message_time, next.message_id!)) {
        Object.assign(next, { message_seq: seq, message_time: time, message_id: event.id });
      }
    }
    this.#put.run(
      topic,
      sequence,
      next.kind,
      next.time,
      next.id,
      next.seq,
      next.source,
      next.message_seq,
      next.message_time,
      next.message_id,
      next.versions,
      received,
    );
  }

  /** The state of (topic, sequence); undefined when no step of it with a key or an acknowledgement is stored. */
  status(topic: string, sequence: string): NotificationStatus | undefined {
    const row = this.#get.get(topic, sequence) as Row | undefined;
    if (!row) return undefined;
    const status: NotificationStatus = {
      topic,
      sequence,
      state: STATE_OF[row.kind] ?? "open",
      newest: { id: row.id, kind: row.kind, time: row.time, seq: row.seq, source: JSON.parse(row.source) },
      versions: row.versions,
    };
    if (row.message_seq !== null) status.messageSeq = row.message_seq;
    return status;
  }

  /**
   * Whether a newer step of the event's notification is stored: a later
   * version, or an acknowledgement or deletion. A sink that shows
   * notifications passes such an event over; it is history, not news.
   */
  superseded(event: HarkEvent): boolean {
    const status = this.status(event.topic, sequenceOf(event));
    return status !== undefined && status.newest.id !== event.id;
  }

  /**
   * The notifications `key` names, for `hark ack KEY|ID`: those with that
   * sequence, or the one the event with that id belongs to, on `topic` or
   * on any topic.
   */
  locate(key: string, topic?: string): { topic: string; sequence: string }[] {
    const found = new Map<string, { topic: string; sequence: string }>();
    const add = (t: string, sequence: string) => found.set(`${t}\n${sequence}`, { topic: t, sequence });
    const args = topic === undefined ? [key] : [key, topic];
    const bySequence = topic === undefined ? this.#bySequence : this.#bySequenceOnTopic;
    for (const row of bySequence.all(...args)) add(row.topic as string, key);
    // Prepared on first use (then kept): the events table is the store's, created after this book in some tests.
    const eventsById = "SELECT topic, json_extract(json, '$.sequence') AS sequence FROM events WHERE id = ?";
    const byId = topic === undefined
      ? (this.#eventsById ??= this.#db.prepare(eventsById))
      : (this.#eventsByIdOnTopic ??= this.#db.prepare(`${eventsById} AND topic = ?`));
    for (const row of byId.all(...args)) add(row.topic as string, (row.sequence as string | null) ?? key);
    return [...found.values()];
  }

  /** A stored event moved from local number `from` to `to` (a scheduled event released when due). */
  moved(from: number, to: number): void {
    this.#moveSeq.run(to, from);
    this.#moveMessageSeq.run(to, from);
  }

  /**
   * Forgets notifications whose last step arrived before `cutoff` (ms), with
   * the events' retention, and, when the store just removed events by count
   * or quota (`eventsRemoved`), those whose events are all gone.
   */
  prune(cutoff: number, eventsRemoved: boolean): void {
    this.#pruneByAge.run(cutoff);
    if (!eventsRemoved) return;
    // A row names the events of its newest step and newest version; the count cap and the
    // per-publisher quota remove oldest first, so once both are gone the rest went before them.
    this.#pruneOrphans ??= this.#db.prepare(
      `DELETE FROM notifications WHERE NOT EXISTS (SELECT 1 FROM events WHERE events.seq = notifications.seq)
         AND (message_seq IS NULL OR NOT EXISTS (SELECT 1 FROM events WHERE events.seq = notifications.message_seq))`,
    );
    this.#pruneOrphans.run();
  }
}
