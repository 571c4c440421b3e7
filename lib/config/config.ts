/**
 * Configuration: TOML file → typed layers → one resolved config.
 * Layers merge in the order defaults → file → environment → flags; later
 * scalars win and lists append. Unset is `undefined`, never a zero value, so
 * any layer can switch a default off.
 */

import { dirname, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { ConfigError } from "../errors.ts";
import { type KeyPath, locateKey } from "./locate.ts";
import { describe, type Fail, type FieldSpec, isTable, readTable, rethrow } from "./fields.ts";
import type { KindSchema, SinkKindSchema } from "./schema.ts";
import { type EscalateRule, readEscalateRule } from "./escalate.ts";
import { inDir } from "./paths.ts";
import {
  checkTopic,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_TOPIC,
  HOST_MAX_CHARS,
  MAX_EVENT_BYTES_CEILING,
} from "../event/event.ts";
import {
  MAX_AGE_DEFAULT_MS,
  SINK_COMMON_FIELDS,
  SINK_QUEUE_DEFAULT,
  SINK_SCHEMAS,
  SINK_TYPES,
  type SinkConfig,
  type SinkType,
} from "../../sinks/config_registry.ts";
import {
  SOURCE_COMMON_FIELDS,
  SOURCE_SCHEMAS,
  SOURCE_TYPES,
  type SourceConfig,
  type SourceType,
} from "../sources/config_registry.ts";

export type { EscalateRule, SinkConfig, SinkType, SourceConfig, SourceType };
export { SINK_QUEUE_DEFAULT };
export { parseBytes } from "./fields.ts";
export { FILE_KEEP_DEFAULT, FILE_MAX_SIZE_DEFAULT } from "../../sinks/file_config.ts";
export { PLUGIN_FILE } from "../../sinks/plugin/config.ts";

export interface HarkConfig {
  network: {
    name?: string;
    listen: string[];
    peers: string[];
    mdns: boolean;
    relay: boolean;
    /** Events per second accepted from one publisher. */
    publisher_rate: number;
    /** Events accepted at once from one publisher. */
    publisher_burst: number;
    /** Past this many peers the agent closes connections (lib/connect/connection_trimmer.ts); 0 for no limit. */
    max_connections: number;
  };
  agent: {
    topics: string[];
    host: string;
    max_event_bytes: number;
  };
  sinks: SinkConfig[];
  sources: SourceConfig[];
  /** `[[escalate]]` rules (lib/notifications/escalator.ts). */
  escalate: EscalateRule[];
  store: {
    /** Events older than this (by arrival) are removed from the store. */
    retention_ms: number;
    /** At most this many events are kept. */
    max_events: number;
    /** At most this many events of one publisher are kept; its oldest go first. */
    max_events_per_publisher: number;
  };
  /** Per-topic rules, from `[topic.NAME]` tables. */
  topic: Record<string, TopicRules>;
  /** Membership events (lib/mesh/membership.ts). */
  membership: {
    /** How often this agent publishes hark.node.status; 0 never. */
    status_interval_ms: number;
    /** A member disconnected this long is reported with hark.node.leave. */
    leave_after_ms: number;
  };
}

export interface TopicRules {
  /** Only these peer ids may publish on the topic; undefined means anyone. */
  publishers?: string[];
  /** What the topic is for, shown by `hark topics` and announced to peers. */
  description?: string;
  /** A JSON Schema for the events' `data`, inline or read from the file the config names. */
  schema?: Record<string, unknown>;
}

/** A partial config as one layer supplies it. */
export interface ConfigLayer {
  network?: Partial<HarkConfig["network"]>;
  agent?: Partial<HarkConfig["agent"]>;
  sink?: Partial<SinkConfig>[];
  source?: Partial<SourceConfig>[];
  escalate?: EscalateRule[];
  topic?: Record<string, TopicRules>;
  store?: Partial<HarkConfig["store"]>;
  membership?: Partial<HarkConfig["membership"]>;
}

export const RETENTION_DEFAULT_MS = 7 * 86_400_000;
/** lib/mesh/membership.ts's defaults, here so that config loads without the agent's modules. */
export const STATUS_INTERVAL_DEFAULT_MS = 5 * 60_000;
export const LEAVE_AFTER_DEFAULT_MS = 30_000;
export const MAX_EVENTS_DEFAULT = 100_000;
/** A quarter of the store: one publisher, hostile or runaway, cannot push everyone else's events out. */
export const MAX_EVENTS_PER_PUBLISHER_DEFAULT = 25_000;

export const PUBLISHER_RATE_DEFAULT = 20;
export const PUBLISHER_BURST_DEFAULT = 200;
/**
 * lib/connect/connection_trimmer.ts's, here so that config loads without the
 * agent's modules. 64 changes nothing for fleets under about 50, where every
 * agent may hold every other; on a big LAN it bounds each agent to 48–64
 * peers, about what mDNS dials alone left it with (32 to 64), now including
 * those reached other ways. A relay serves many by design: no limit.
 */
export const MAX_CONNECTIONS_DEFAULT = 64;
export const MAX_CONNECTIONS_MIN = 8;

export const DEFAULT_LISTEN = "/ip4/0.0.0.0/tcp/4001";

export const NETWORK_FIELDS: Record<string, FieldSpec> = {
  name: "string",
  listen: "strings",
  peers: "strings",
  mdns: "bool",
  relay: "bool",
  publisher_rate: "rate",
  publisher_burst: "count",
  max_connections: "count0",
};
export const AGENT_FIELDS: Record<string, FieldSpec> = {
  topics: "topics",
  host: "string",
  max_event_bytes: "bytes",
};

/** Parses config text; `source` names the file in error messages. */
export function parseConfig(text: string, source: string): ConfigLayer {
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new ConfigError(
        `Cannot read config "${source}": invalid TOML at line ${error.line}: ${reason}`,
        { cause: error },
      );
    }
    throw error;
  }
  const fail = (path: KeyPath, problem: string): never => {
    const line = locateKey(text, path);
    const where = line > 0 ? ` at line ${line}` : "";
    throw new ConfigError(`Cannot read config "${source}": ${problem}${where}`);
  };
  return readLayer(raw, fail, source);
}

function readLayer(raw: Record<string, unknown>, fail: Fail, source: string): ConfigLayer {
  const layer: ConfigLayer = {};
  for (const [key, value] of Object.entries(raw)) {
    switch (key) {
      case "network":
        layer.network = readTable(value, ["network"], NETWORK_FIELDS, fail);
        break;
      case "agent":
        layer.agent = readTable(value, ["agent"], AGENT_FIELDS, fail);
        break;
      case "sink":
        if (!Array.isArray(value)) fail(["sink"], `"sink" must be written as [[sink]] tables`);
        layer.sink = (value as unknown[]).map((entry, i) => readSink(entry, i, fail, source));
        break;
      case "source":
        if (!Array.isArray(value)) fail(["source"], `"source" must be written as [[source]] tables`);
        layer.source = (value as unknown[]).map((entry, i) => readSource(entry, i, fail, source));
        break;
      case "topic":
        layer.topic = readTopicRules(value, fail, source);
        break;
      case "escalate":
        if (!Array.isArray(value)) fail(["escalate"], `"escalate" must be written as [[escalate]] tables`);
        layer.escalate = (value as unknown[]).map((entry, i) => readEscalateRule(entry, i, fail));
        break;
      case "store": {
        const table = readTable<{ retention?: number; max_events?: number; max_events_per_publisher?: number }>(
          value,
          ["store"],
          STORE_FIELDS,
          fail,
        );
        layer.store = {
          retention_ms: table.retention,
          max_events: table.max_events,
          max_events_per_publisher: table.max_events_per_publisher,
        };
        break;
      }
      case "membership": {
        const table = readTable<{ status_interval?: number; leave_after?: number }>(
          value,
          ["membership"],
          MEMBERSHIP_FIELDS,
          fail,
        );
        layer.membership = { status_interval_ms: table.status_interval, leave_after_ms: table.leave_after };
        break;
      }
      default:
        fail([key], `unknown key "${key}"`);
    }
  }
  return layer;
}

export const TOPIC_FIELDS: Record<string, FieldSpec> = { publishers: "peers", description: "string", schema: "schema" };
export const STORE_FIELDS: Record<string, FieldSpec> = {
  retention: "duration",
  max_events: "count",
  max_events_per_publisher: "count",
};
export const MEMBERSHIP_FIELDS: Record<string, FieldSpec> = { status_interval: "duration", leave_after: "duration" };

function readTopicRules(value: unknown, fail: Fail, source: string): Record<string, TopicRules> {
  if (!isTable(value)) fail(["topic"], `"topic" must hold [topic.NAME] tables`);
  const rules: Record<string, TopicRules> = {};
  for (const [name, table] of Object.entries(value as Record<string, unknown>)) {
    rethrow(() => checkTopic(name), (problem) => fail(["topic", name], `[topic.${name}] ${problem}`));
    const read = readTable(table, ["topic", name], TOPIC_FIELDS, fail);
    // A relative path is relative to the config file, not to where hark was started.
    if (typeof read.schema === "string") {
      const problem = (text: string) => fail(["topic", name, "schema"], `"topic.${name}.schema" ${text}`);
      read.schema = readSchemaFile(resolve(dirname(source), read.schema), problem);
    }
    rules[name] = read;
  }
  return rules;
}

/** Read when the config is read, so a missing or broken schema file stops the agent at start. */
function readSchemaFile(path: string, fail: (problem: string) => never): Record<string, unknown> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "does not exist"
      : `cannot be read (${(error as Error).message})`;
    return fail(`names the file ${path}, which ${why}`);
  }
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (error) {
    return fail(`names the file ${path}, which is not JSON: ${(error as Error).message}`);
  }
  if (!isTable(schema)) fail(`names the file ${path}, which holds ${describe(schema)}, not a JSON Schema object`);
  return schema as Record<string, unknown>;
}

function readSink(entry: unknown, index: number, fail: Fail, source: string): Partial<SinkConfig> {
  const path: KeyPath = ["sink", index];
  if (!isTable(entry)) fail(path, `sink ${index + 1} must be a table`);
  const table = entry as Record<string, unknown>;
  const type = table.type;
  if (typeof type !== "string") {
    fail([...path, "type"], `sink ${index + 1} needs a type (${SINK_TYPES.join(", ")})`);
  }
  if (!(SINK_TYPES as readonly string[]).includes(type as string)) {
    fail([...path, "type"], `unknown sink type "${type}" (use ${SINK_TYPES.join(", ")})`);
  }
  const article = /^[aeiou]/.test(type as string) ? "an" : "a";
  refuseOtherKindsKeys(table, { ...SINK_COMMON_FIELDS, ...SINK_SCHEMAS[type as SinkType].fields }, SINK_SCHEMAS, {
    family: "sink",
    what: `${article} ${type} sink`,
    path,
    fail,
  });
  return readEntry(table, SINK_COMMON_FIELDS, SINK_SCHEMAS[type as SinkType], `${article} ${type} sink`, {
    path,
    fail,
    source,
  });
}

/**
 * A key that another type of the family reads (`repeat` on a file sink) was
 * most likely copied from the docs into the wrong entry: say which types
 * read it, rather than call a documented key unknown.
 */
function refuseOtherKindsKeys(
  table: Record<string, unknown>,
  own: Record<string, FieldSpec>,
  kinds: Record<string, KindSchema<unknown>>,
  { family, what, path, fail }: { family: string; what: string; path: KeyPath; fail: Fail },
): void {
  for (const key of Object.keys(table)) {
    if (key in own) continue;
    const readers = Object.entries(kinds).filter(([, schema]) => key in schema.fields).map(([kind]) => kind);
    if (readers.length === 0) continue;
    fail(
      [...path, key],
      `unknown key "${family}.${key}" for ${what}: only ${
        readers.join(" and ")
      } ${family}s read it; remove it, or move it to a [[${family}]] with type = "${readers[0]}"`,
    );
  }
}

/** An entry's keys, read by its kind's schema: what it needs, what each key holds, what else it checks. */
function readEntry<Entry>(
  table: Record<string, unknown>,
  common: Record<string, FieldSpec>,
  schema: KindSchema<Entry>,
  what: string,
  { path, fail, source }: { path: KeyPath; fail: Fail; source: string },
): Partial<Entry> {
  for (const [key, example] of schema.required ?? []) {
    if (!(key in table)) fail([...path, "type"], `${what} needs ${key}, e.g. ${example}`);
  }
  const entry = readTable<Partial<Entry>>(table, path, { ...common, ...schema.fields }, fail);
  schema.afterRead?.(entry, { path, table, fail, source });
  return entry;
}

function readSource(entry: unknown, index: number, fail: Fail, source: string): Partial<SourceConfig> {
  const path: KeyPath = ["source", index];
  if (!isTable(entry)) fail(path, `source ${index + 1} must be a table`);
  const table = entry as Record<string, unknown>;
  const type = table.type;
  if (!(SOURCE_TYPES as readonly unknown[]).includes(type)) {
    fail([...path, "type"], `source ${index + 1} needs a type (${SOURCE_TYPES.join(", ")}), not ${describe(type)}`);
  }
  refuseOtherKindsKeys(
    table,
    { ...SOURCE_COMMON_FIELDS, ...SOURCE_SCHEMAS[type as SourceType].fields },
    SOURCE_SCHEMAS,
    { family: "source", what: `a ${type} source`, path, fail },
  );
  return readEntry(table, SOURCE_COMMON_FIELDS, SOURCE_SCHEMAS[type as SourceType], `a ${type} source`, {
    path,
    fail,
    source,
  });
}

/** Later layers win for scalars and append for lists. */
export function mergeConfig(base: ConfigLayer, over: ConfigLayer): ConfigLayer {
  return {
    network: mergeTable(base.network, over.network),
    agent: mergeTable(base.agent, over.agent),
    sink: [...(base.sink ?? []), ...(over.sink ?? [])],
    source: [...(base.source ?? []), ...(over.source ?? [])],
    ...(base.escalate || over.escalate ? { escalate: [...(base.escalate ?? []), ...(over.escalate ?? [])] } : {}),
    topic: mergeTopicRules(base.topic, over.topic),
    store: mergeTable(base.store, over.store),
    membership: mergeTable(base.membership, over.membership),
  };
}

function mergeTopicRules(
  base: Record<string, TopicRules> | undefined,
  over: Record<string, TopicRules> | undefined,
): Record<string, TopicRules> {
  const out: Record<string, TopicRules> = { ...base };
  for (const [name, rules] of Object.entries(over ?? {})) out[name] = mergeTable(out[name], rules);
  return out;
}

function mergeTable<T extends object>(base: T | undefined, over: T | undefined): T {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over ?? {})) {
    if (value === undefined) continue;
    const existing = out[key];
    out[key] = Array.isArray(existing) && Array.isArray(value) ? [...new Set([...existing, ...value])] : value;
  }
  return out as T;
}

/** The layer that `HARK_*` environment variables supply. */
export function envLayer(env: Record<string, string | undefined>): ConfigLayer {
  const list = (name: string) =>
    env[name] === undefined ? undefined : env[name]!.split(",").map((item) => item.trim()).filter(Boolean);
  const layer: ConfigLayer = { network: {}, agent: {} };
  layer.network!.listen = list("HARK_LISTEN");
  layer.network!.peers = list("HARK_PEERS");
  if (env.HARK_MDNS !== undefined) {
    const value = env.HARK_MDNS.trim().toLowerCase();
    if (!["true", "false", "1", "0"].includes(value)) {
      throw new ConfigError(`HARK_MDNS must be true or false, not "${env.HARK_MDNS}"`);
    }
    layer.network!.mdns = value === "true" || value === "1";
  }
  const topics = list("HARK_TOPICS");
  if (topics) {
    for (const topic of topics) {
      try {
        checkTopic(topic);
      } catch (error) {
        throw new ConfigError(`HARK_TOPICS: ${(error as Error).message}`);
      }
    }
    layer.agent!.topics = topics;
  }
  if (env.HARK_HOST !== undefined) layer.agent!.host = env.HARK_HOST;
  return layer;
}

/** Fills what no layer set and checks what only makes sense as a whole. */
export function resolveConfig(
  layer: ConfigLayer,
  defaults: { host: string; stateDir: string },
): HarkConfig {
  const network = layer.network ?? {};
  const agent = layer.agent ?? {};
  const maxEventBytes = agent.max_event_bytes ?? DEFAULT_MAX_EVENT_BYTES;
  if (maxEventBytes > MAX_EVENT_BYTES_CEILING || maxEventBytes < 1024) {
    throw new ConfigError(
      `agent.max_event_bytes must be between 1 KiB and 1 MiB, not ${maxEventBytes}`,
    );
  }
  const host = agent.host || defaults.host;
  if (host.length > HOST_MAX_CHARS) {
    throw new ConfigError(
      `agent.host is ${host.length} characters; the limit is ${HOST_MAX_CHARS} (every event carries it as source.host, and peers refuse longer)`,
    );
  }
  const publisherRate = network.publisher_rate ?? PUBLISHER_RATE_DEFAULT;
  const membership = {
    status_interval_ms: layer.membership?.status_interval_ms ?? STATUS_INTERVAL_DEFAULT_MS,
    leave_after_ms: layer.membership?.leave_after_ms ?? LEAVE_AFTER_DEFAULT_MS,
  };
  checkMembershipTimes(membership, publisherRate);
  const relay = network.relay ?? false;
  const maxConnections = network.max_connections ?? (relay ? 0 : MAX_CONNECTIONS_DEFAULT);
  if (maxConnections > 0 && maxConnections < MAX_CONNECTIONS_MIN) {
    throw new ConfigError(
      `network.max_connections is ${maxConnections}; use at least ${MAX_CONNECTIONS_MIN} (gossipsub alone keeps 3 to 6 peers a topic), or 0 for no limit`,
    );
  }
  const sinks = (layer.sink?.length ? layer.sink : defaultSinks(defaults.stateDir))
    .map((sink) => resolveSink(sink, defaults.stateDir));
  return {
    network: {
      name: network.name,
      listen: network.listen?.length ? network.listen : [DEFAULT_LISTEN],
      peers: network.peers ?? [],
      mdns: network.mdns ?? true,
      relay,
      publisher_rate: publisherRate,
      publisher_burst: network.publisher_burst ?? PUBLISHER_BURST_DEFAULT,
      max_connections: maxConnections,
    },
    agent: {
      topics: agent.topics?.length ? agent.topics : [DEFAULT_TOPIC],
      host,
      max_event_bytes: maxEventBytes,
    },
    sinks,
    sources: (layer.source ?? []).map((source) => ({ ...source, type: source.type! })),
    escalate: layer.escalate ?? [],
    store: {
      retention_ms: layer.store?.retention_ms ?? RETENTION_DEFAULT_MS,
      max_events: layer.store?.max_events ?? MAX_EVENTS_DEFAULT,
      max_events_per_publisher: layer.store?.max_events_per_publisher ?? MAX_EVENTS_PER_PUBLISHER_DEFAULT,
    },
    topic: layer.topic ?? {},
    membership,
  };
}

/** The shortest membership timers an agent can run with. */
export const MEMBERSHIP_MIN_MS = 1000;

/**
 * Each status and leave report is an event of this agent's own, paid from the
 * rate limit its peers enforce on it: a `status_interval` of "1ms" would take
 * every token and starve `hark send` for good. So a status may use at most
 * half of `network.publisher_rate`, and neither timer runs faster than 1 s.
 */
function checkMembershipTimes(membership: { status_interval_ms: number; leave_after_ms: number }, rate: number): void {
  const status = membership.status_interval_ms;
  const floor = Math.max(MEMBERSHIP_MIN_MS, Math.ceil(2000 / rate));
  if (status !== 0 && status < floor) {
    throw new ConfigError(
      `membership.status_interval is ${status} ms; use "0s" (never) or at least ${floor} ms: status events are paid from network.publisher_rate (${rate}/s), and more would leave hark send none`,
    );
  }
  if (membership.leave_after_ms < MEMBERSHIP_MIN_MS) {
    throw new ConfigError(
      `membership.leave_after is ${membership.leave_after_ms} ms; use at least ${MEMBERSHIP_MIN_MS} ms (a reconnect takes that long)`,
    );
  }
}

function defaultSinks(stateDir: string): Partial<SinkConfig>[] {
  return [{ type: "stdout" }, { type: "file", path: inDir(stateDir, "events.jsonl") }];
}

/**
 * Fills a sink's defaults: its kind's own first, then for the keys of
 * other kinds the first default any kind gives, so every sink has one shape.
 */
function resolveSink(sink: Partial<SinkConfig>, stateDir: string): SinkConfig {
  const own: SinkKindSchema<SinkConfig> = SINK_SCHEMAS[sink.type!];
  const resolved: Record<string, unknown> = {
    type: sink.type!,
    topics: sink.topics,
    min_priority: sink.min_priority ?? 1,
    queue: sink.queue ?? SINK_QUEUE_DEFAULT,
    max_age: sink.max_age ?? MAX_AGE_DEFAULT_MS,
    when: sink.when,
  };
  const given = sink as Record<string, unknown>;
  const ownDefaults = (own.defaults ?? {}) as Record<string, unknown>;
  for (const schema of Object.values(SINK_SCHEMAS) as SinkKindSchema<SinkConfig>[]) {
    const defaults = (schema.defaults ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(schema.fields)) {
      const shared = !schema.ownKeys?.includes(key);
      if (!shared && schema !== own) continue;
      resolved[key] = given[key] ?? ownDefaults[key] ?? resolved[key] ?? defaults[key];
    }
  }
  return { ...resolved, ...own.resolve?.(sink, stateDir) } as SinkConfig;
}
