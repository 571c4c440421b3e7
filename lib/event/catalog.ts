/**
 * The event catalog, as LEAP's and Clacks': what each topic is for and what
 * its events' `data` holds.
 *
 * `[topic.NAME]` gives a description and a JSON Schema. This agent checks
 * what it publishes against its schemas (`checkDraft`, an error naming the
 * field) and refuses received events that do not match (`check`, counted as
 * off_schema). Each agent announces its catalog in its membership events,
 * so `hark topics` can list what every peer says about a topic, and show
 * where two agents disagree.
 *
 * Only this agent's own config decides what it refuses: a peer's
 * announcement is information, never a rule, so no peer can make this
 * agent drop events.
 */

import { getLogger } from "@logtape/logtape";
import { Validator } from "@cfworker/json-schema";
import type { TopicRules } from "../config/config.ts";
import { ConfigError, HarkError } from "../errors.ts";
import { checkTopic, type HarkEvent, isReservedTopic } from "./event.ts";
import { describeSchemaError } from "./catalog_errors.ts";

const log = getLogger(["hark", "catalog"]);

/** What an agent says about one topic. */
export interface TopicEntry {
  description?: string;
  schema?: Record<string, unknown>;
}

/** An agent's catalog as it announces it: topic → entry. */
export type Announcement = Record<string, TopicEntry>;

/** Per topic and publisher, from the store: how many events, the last one's time and host. */
export interface PublisherStats {
  topic: string;
  peer: string;
  host?: string;
  events: number;
  /** ms since the epoch */
  last: number;
}

/** One row of `hark topics`. */
export interface TopicListing {
  topic: string;
  description?: string;
  schema?: Record<string, unknown>;
  /** Where description and schema come from: this agent's config, or a peer's announcement. */
  defined_by: "config" | "peer" | null;
  /** In agent.topics: this agent receives the topic. */
  subscribed: boolean;
  /** The agents that announce the topic. */
  announced_by: { peer: string; host: string }[];
  /** Agents (this one included) announce different schemas or descriptions for it. */
  disagree: boolean;
  /** The publishers of the stored events. */
  publishers: { peer: string; host: string | null; events: number; last: string }[];
  events: number;
  last: string | null;
}

/** Bounds on what a peer's announcement may make this agent hold. */
const MAX_ANNOUNCERS = 1024;
const MAX_TOPICS_PER_ANNOUNCER = 256;
const MAX_DESCRIPTION_CHARS = 500;

const DRAFTS = new Map<string, "4" | "7" | "2019-09" | "2020-12">([
  ["http://json-schema.org/draft-04/schema", "4"],
  ["http://json-schema.org/draft-07/schema", "7"],
  ["https://json-schema.org/draft/2019-09/schema", "2019-09"],
  ["https://json-schema.org/draft/2020-12/schema", "2020-12"],
]);

interface Announcer {
  host: string;
  entries: Map<string, { description?: string; schema?: Record<string, unknown>; schemaText?: string }>;
}

export class Catalog {
  #rules: Record<string, TopicRules>;
  #validators = new Map<string, Validator>();
  #announcers = new Map<string, Announcer>();
  #self: string;
  #announcement?: Announcement;

  /** Throws a ConfigError for a schema that cannot be used. */
  constructor(rules: Record<string, TopicRules>, init: { self?: string; maxAnnouncementBytes?: number } = {}) {
    this.#rules = rules;
    this.#self = init.self ?? "";
    for (const [topic, { schema }] of Object.entries(rules)) {
      if (schema) this.#validators.set(topic, compile(topic, schema));
    }
    this.#announcement = announcementWithin(rules, init.maxAnnouncementBytes ?? Infinity);
  }

  /** Topics with a schema. */
  get checked(): string[] {
    return [...this.#validators.keys()];
  }

  /** Why `data` does not fit `topic`'s schema, or undefined when it does (or the topic has none). */
  problem(topic: string, data: unknown): string | undefined {
    const validator = this.#validators.get(topic);
    if (!validator) return undefined;
    if (data === undefined) return `data is missing: topic "${topic}" has a schema`;
    const { valid, errors } = validator.validate(data);
    return valid ? undefined : `data does not match the schema of topic "${topic}": ${describeSchemaError(errors)}`;
  }

  /** The validator's content check: an event whose data does not fit its topic's schema is refused. */
  check(event: HarkEvent): { reason: "off_schema"; detail: string } | undefined {
    const detail = this.problem(event.topic, event.data);
    return detail === undefined ? undefined : { reason: "off_schema", detail };
  }

  /** Before this agent publishes: an error that names the field, so the sender can fix it. */
  checkDraft(topic: string, data: unknown): void {
    const detail = this.problem(topic, data);
    if (detail !== undefined) throw new HarkError(`${detail} (\`hark topics --json\` shows the schema)`);
  }

  /** What this agent announces in its join and status events; undefined when it has nothing to say. */
  announcement(): Announcement | undefined {
    return this.#announcement;
  }

  /** A membership event accepted or replayed from the store: learns or forgets what its subject announced. */
  observe(event: HarkEvent): void {
    const facts = event.data as { peer?: unknown; host?: unknown; catalog?: unknown } | undefined;
    if (typeof facts?.peer !== "string" || facts.peer === this.#self) return;
    if (event.topic === "hark.node.leave") {
      this.#announcers.delete(facts.peer);
      return;
    }
    this.learn(facts.peer, typeof facts.host === "string" ? facts.host : "?", facts.catalog);
  }

  /** Takes a peer's announcement as it is, dropping what is malformed; it replaces the peer's last one. */
  learn(peer: string, host: string, announcement: unknown): void {
    this.#announcers.delete(peer);
    if (!isObject(announcement)) return;
    const entries: Announcer["entries"] = new Map();
    for (const [topic, entry] of Object.entries(announcement)) {
      if (entries.size >= MAX_TOPICS_PER_ANNOUNCER) break;
      if (!isValidTopic(topic) || !isObject(entry)) continue;
      const description = typeof entry.description === "string"
        ? entry.description.slice(0, MAX_DESCRIPTION_CHARS)
        : undefined;
      const schema = isObject(entry.schema) ? entry.schema : undefined;
      if (description === undefined && schema === undefined) continue;
      entries.set(topic, { description, schema, schemaText: schema && canonicalJson(schema) });
    }
    if (entries.size === 0) return;
    // Map order is insertion order: the first key is the announcer heard from longest ago.
    if (this.#announcers.size >= MAX_ANNOUNCERS) this.#announcers.delete(this.#announcers.keys().next().value!);
    this.#announcers.set(peer, { host, entries });
  }

  /** Every topic this agent knows of, from its config, its subscriptions, its store and its peers. */
  list(subscribed: readonly string[], stats: PublisherStats[]): TopicListing[] {
    const topics = new Set<string>([...Object.keys(this.#rules), ...subscribed, ...stats.map((s) => s.topic)]);
    for (const announcer of this.#announcers.values()) for (const topic of announcer.entries.keys()) topics.add(topic);
    const listings: TopicListing[] = [];
    for (const topic of [...topics].sort()) {
      if (isReservedTopic(topic)) continue;
      listings.push(this.#listing(topic, subscribed.includes(topic), stats.filter((s) => s.topic === topic)));
    }
    return listings;
  }

  #listing(topic: string, subscribed: boolean, stats: PublisherStats[]): TopicListing {
    const own = this.#rules[topic];
    const announced = [...this.#announcers].flatMap(([peer, announcer]) => {
      const entry = announcer.entries.get(topic);
      return entry ? [{ peer, host: announcer.host, entry }] : [];
    });
    const ownDefines = own?.description !== undefined || own?.schema !== undefined;
    const first = announced[0]?.entry;
    const versions = new Set(announced.map(({ entry }) => `${entry.schemaText}\n${entry.description}`));
    if (ownDefines) versions.add(`${own.schema && canonicalJson(own.schema)}\n${own.description}`);
    const publishers = stats.map((s) => ({
      peer: s.peer,
      host: s.host ?? null,
      events: s.events,
      last: new Date(s.last).toISOString(),
    }));
    const last = stats.length ? Math.max(...stats.map((s) => s.last)) : undefined;
    return {
      topic,
      description: ownDefines ? own.description : first?.description,
      schema: ownDefines ? own.schema : first?.schema,
      defined_by: ownDefines ? "config" : first ? "peer" : null,
      subscribed,
      announced_by: announced.map(({ peer, host }) => ({ peer, host })),
      disagree: versions.size > 1,
      publishers,
      events: stats.reduce((sum, s) => sum + s.events, 0),
      last: last === undefined ? null : new Date(last).toISOString(),
    };
  }
}

function compile(topic: string, schema: Record<string, unknown>): Validator {
  const draft = DRAFTS.get(String(schema.$schema ?? "").replace(/#$/, "")) ?? "2020-12";
  const validator = new Validator(schema, draft, false);
  // The library resolves `$ref`s when it validates: one trial run finds a
  // broken one now, at start, rather than on the first event.
  try {
    validator.validate(null);
  } catch (error) {
    throw new ConfigError(`topic.${topic}.schema cannot be used: ${(error as Error).message}`);
  }
  return validator;
}

/**
 * The catalog rides in every join and status event, so it must leave room
 * in one: past `maxBytes` the schemas stay out (descriptions still go), and
 * past that, the whole catalog.
 */
function announcementWithin(rules: Record<string, TopicRules>, maxBytes: number): Announcement | undefined {
  const full: Announcement = {};
  for (const [topic, { description, schema }] of Object.entries(rules)) {
    if (description === undefined && schema === undefined) continue;
    full[topic] = {};
    if (description !== undefined) full[topic].description = description;
    if (schema !== undefined) full[topic].schema = schema;
  }
  if (Object.keys(full).length === 0) return undefined;
  if (byteLength(full) <= maxBytes) return full;
  const described = Object.fromEntries(
    Object.entries(full).filter(([, e]) => e.description !== undefined).map((
      [t, e],
    ) => [t, { description: e.description }]),
  );
  if (Object.keys(described).length > 0 && byteLength(described) <= maxBytes) {
    log.warn("The topic schemas are too large to announce in {bytes} bytes; peers see the descriptions only", {
      bytes: maxBytes,
    });
    return described;
  }
  log.warn("The topic catalog is too large to announce in {bytes} bytes; peers will not see it", { bytes: maxBytes });
  return undefined;
}

function byteLength(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value)).length;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isValidTopic(topic: string): boolean {
  try {
    checkTopic(topic);
    return !isReservedTopic(topic);
  } catch {
    return false;
  }
}

/** JSON with object keys sorted, so that two equal schemas compare equal as text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, inner) =>
      isObject(inner)
        ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
        : inner,
  );
}
