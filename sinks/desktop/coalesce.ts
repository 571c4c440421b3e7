/**
 * One popup for one problem: events of one topic with one `dedup` key (or,
 * with the sink's `coalesce` window, one title) from several hosts become
 * one popup that counts them, "disk full ×4" over "db01, db02, db03, db04",
 * updated in place as more hosts report. Serf coalesces per node and name;
 * this coalesces across the mesh.
 *
 * A group lasts its window from its first event; a later event opens a new
 * group and a new popup. Each event counts once, by id, so an event shown
 * again after a crash does not count twice; groups are kept in the store
 * and carry on after a restart.
 */

import type { HarkEvent } from "../../lib/event/event.ts";
import { DESKTOP_COALESCE_SCOPE, type SinkMemory } from "../../lib/notifications/sink_memory.ts";

const SCOPE = DESKTOP_COALESCE_SCOPE;
/** Without a `coalesce` window, events with a dedup key are grouped for this long. */
export const DEDUP_WINDOW_DEFAULT_MS = 10 * 60_000;
/** Event ids and hosts kept per group; the count goes on beyond. */
const MEMBERS_MAX = 256;
/** Hosts named in the popup; the rest are "…". */
const HOSTS_SHOWN = 8;

export interface Group {
  key: string;
  started: number;
  count: number;
  hosts: string[];
  ids: string[];
  /** The notification keys of its events, so a clear of any closes the popup. */
  members: string[];
  /** Its members' (topic, sequence), for the popup's Acknowledge button. */
  targets: [topic: string, sequence: string][];
}

export interface CoalesceInit {
  /** The sink's `coalesce` window (ms): groups by topic and title too. */
  windowMs?: number;
  memory?: SinkMemory;
  now?: () => number;
}

export class Coalescer {
  #init: CoalesceInit;
  #groups = new Map<string, Group>();

  constructor(init: CoalesceInit) {
    this.#init = init;
    for (const [key, value] of init.memory?.all(SCOPE) ?? []) {
      try {
        this.#groups.set(key, JSON.parse(value) as Group);
      } catch {
        init.memory?.drop(SCOPE, key);
      }
    }
  }

  /**
   * Adds a message to its group; undefined when it has none (no dedup key,
   * no window). `memberKey` is the event's notification key.
   */
  offer(event: HarkEvent, memberKey: string, target: [string, string]): Group | undefined {
    const key = this.#keyOf(event);
    if (key === undefined) return undefined;
    const now = (this.#init.now ?? Date.now)();
    this.#expire(now);
    let group = this.#groups.get(key);
    if (!group) group = { key, started: now, count: 0, hosts: [], ids: [], members: [], targets: [] };
    if (!group.ids.includes(event.id)) {
      group.count++;
      group.ids = [...group.ids, event.id].slice(-MEMBERS_MAX);
      group.members = [...group.members, memberKey].slice(-MEMBERS_MAX);
      group.targets = [...group.targets, target].slice(-MEMBERS_MAX);
      if (!group.hosts.includes(event.source.host)) {
        group.hosts = [...group.hosts, event.source.host].slice(-MEMBERS_MAX);
      }
    }
    this.#save(group);
    return group;
  }

  /** The group an event with this notification key counts in. */
  groupOf(memberKey: string): Group | undefined {
    for (const group of this.#groups.values()) if (group.members.includes(memberKey)) return group;
    return undefined;
  }

  drop(group: Group): void {
    this.#groups.delete(group.key);
    this.#init.memory?.drop(SCOPE, group.key);
  }

  stats(): { groups: number } {
    return { groups: this.#groups.size };
  }

  #keyOf(event: HarkEvent): string | undefined {
    if (event.dedup !== undefined) return `dedup:${event.topic}/${event.dedup}`;
    if (this.#init.windowMs !== undefined) return `title:${event.topic}/${event.title}`;
    return undefined;
  }

  #windowOf(key: string): number {
    return this.#init.windowMs ?? (key.startsWith("dedup:") ? DEDUP_WINDOW_DEFAULT_MS : 0);
  }

  #expire(now: number): void {
    for (const group of [...this.#groups.values()]) {
      if (now - group.started >= this.#windowOf(group.key)) this.drop(group);
    }
  }

  #save(group: Group): void {
    this.#groups.set(group.key, group);
    this.#init.memory?.put(SCOPE, group.key, JSON.stringify(group));
  }
}

/** The popup's text: "disk full ×4" over "db01, db02, db03, db04", then the latest event's body. */
export function groupText(group: Group, event: HarkEvent): { summary: string; body: string } {
  const title = event.title || event.topic;
  if (group.count < 2) return { summary: title, body: event.body };
  const shown = group.hosts.slice(0, HOSTS_SHOWN).join(", ") + (group.hosts.length > HOSTS_SHOWN ? ", …" : "");
  return { summary: `${title} ×${group.count}`, body: event.body ? `${shown}\n${event.body}` : shown };
}

/** The replace key of a group's popup: one per group, a new one per window. */
export function groupPopupKey(group: Group): string {
  return `coalesce:${group.key}@${group.started}`;
}
