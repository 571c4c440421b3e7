/**
 * Configuration: TOML file → typed layers → one resolved config.
 * Layers merge in the order defaults → file → environment → flags; later
 * scalars win and lists append. Unset is `undefined`, never a zero value, so
 * any layer can switch a default off.
 */

import { dirname, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { ConfigError, EventError } from "./errors.ts";
import { type KeyPath, locateKey } from "./config_locate.ts";
import { inDir } from "./paths.ts";
import { parseDuration } from "./duration.ts";
import { compileFilter, compileTopicPattern, FilterError } from "./filter.ts";
import {
  checkTopic,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_TOPIC,
  MAX_EVENT_BYTES_CEILING,
  parsePriority,
  type Priority,
} from "./event.ts";

export const SINK_TYPES = ["stdout", "file", "desktop", "exec", "webhook", "plugin"] as const;
export type SinkType = typeof SINK_TYPES[number];
export const WEBHOOK_FORMATS = ["json", "slack", "discord", "ntfy"] as const;
export type WebhookFormat = typeof WEBHOOK_FORMATS[number];

export interface SinkConfig {
  type: SinkType;
  /** Only these topics; undefined means every subscribed topic. */
  topics?: string[];
  min_priority: Priority;
  /** Events waiting for this sink before new ones are dropped. */
  queue: number;
  /** file: where to append JSON lines. */
  path?: string;
  /** file: rotate when the file grows past this many bytes. */
  max_size: number;
  /** file: rotated files to keep. */
  keep: number;
  /**
   * Events older than this (ms) are stale. stdout turns many stale events
   * into one summary; on an agent new to the network, history older than
   * this stays in the store and does not reach the sink.
   */
  max_age: number;
  /** stdout, desktop: more stale events than this become one summary. */
  summarize_after: number;
  /** A filter expression over the event's fields, checked when the config is read. */
  when?: string;
  /** desktop: popups shown per `popup_window`; more collapse into one summary. */
  max_popups: number;
  popup_window: number;
  /** exec: the program and its arguments (never a shell string). */
  command?: string[];
  /** exec, webhook: how long one run or request may take (ms). */
  timeout: number;
  /** exec: runs at the same time. */
  concurrency: number;
  /** exec: warn about a run slower than this (ms). */
  slow_after?: number;
  /** webhook: where to POST. */
  url?: string;
  /** webhook: the body: the event as JSON, or a Slack, Discord or ntfy message. */
  format: WebhookFormat;
  /** webhook: extra request headers. */
  headers?: Record<string, string>;
  /** webhook: signs each body with HMAC-SHA256 (X-Hark-Signature). */
  secret?: string;
  /** webhook: extra attempts per event before the router's own backoff. */
  retries: number;
  /** plugin: a directory; each .ts or .js file in it is a plugin (`path` names one file). */
  plugins?: string;
  /** plugin: what its Worker may do; nothing by default (sinks/plugin/permissions.ts). */
  allow_net?: string[];
  allow_read?: string[];
  allow_write?: string[];
  allow_run?: string[];
  allow_env?: string[];
}

export const SOURCE_TYPES = ["fifo", "http", "watch"] as const;
export type SourceType = typeof SOURCE_TYPES[number];

export interface WatchRuleConfig {
  pattern: string;
  topic?: string;
  priority?: Priority;
  title?: string;
  body?: string;
  tags?: string[];
}

export interface SourceConfig {
  type: SourceType;
  /** The topic of events that do not name one. @default "default" */
  topic?: string;
  /** fifo: the named pipe; watch: the log file. */
  path?: string;
  /** fifo: permissions of the pipe (who may write). */
  mode?: number;
  owner?: string;
  group?: string;
  /** http: where to listen. */
  listen?: string;
  /** http: the bearer token clients must send (required off loopback). */
  token?: string;
  /** http: how often subscribers get a keepalive (ms). @default 45 s */
  keepalive?: number;
  /** watch: lines that become events. */
  rules?: WatchRuleConfig[];
  /** watch: events per minute before a storm becomes one summary. */
  rate?: number;
}

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
  };
  agent: {
    topics: string[];
    host: string;
    max_event_bytes: number;
  };
  sinks: SinkConfig[];
  sources: SourceConfig[];
  store: {
    /** Events older than this (by arrival) are removed from the store. */
    retention_ms: number;
    /** At most this many events are kept. */
    max_events: number;
  };
  /** Per-topic rules, from `[topic.NAME]` tables. */
  topic: Record<string, TopicRules>;
  /** Membership events (lib/membership.ts). */
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
  topic?: Record<string, TopicRules>;
  store?: Partial<HarkConfig["store"]>;
  membership?: Partial<HarkConfig["membership"]>;
}

export const RETENTION_DEFAULT_MS = 7 * 86_400_000;
/** lib/membership.ts's defaults, here so that config loads without the agent's modules. */
export const STATUS_INTERVAL_DEFAULT_MS = 5 * 60_000;
export const LEAVE_AFTER_DEFAULT_MS = 30_000;
export const MAX_EVENTS_DEFAULT = 100_000;

export const PUBLISHER_RATE_DEFAULT = 20;
export const PUBLISHER_BURST_DEFAULT = 200;

export const DEFAULT_LISTEN = "/ip4/0.0.0.0/tcp/4001";
export const SINK_QUEUE_DEFAULT = 1000;
export const FILE_MAX_SIZE_DEFAULT = 10 * 1024 * 1024;
export const FILE_KEEP_DEFAULT = 5;
export const MAX_AGE_DEFAULT_MS = 10 * 60_000;
export const SUMMARIZE_AFTER_DEFAULT = 5;
export const MAX_POPUPS_DEFAULT = 5;
export const POPUP_WINDOW_DEFAULT_MS = 10_000;
export const EXEC_TIMEOUT_DEFAULT_MS = 30_000;
export const EXEC_CONCURRENCY_DEFAULT = 4;
export const WEBHOOK_TIMEOUT_DEFAULT_MS = 10_000;
export const WEBHOOK_RETRIES_DEFAULT = 3;

type FieldType =
  | "string"
  | "strings"
  | "topics"
  | "peers"
  | "bool"
  | "priority"
  | "bytes"
  | "count"
  | "rate"
  | "duration"
  | "patterns"
  | "filter"
  | "argv"
  | "url"
  | "format"
  | "headers"
  | "count0"
  | "topic"
  | "mode"
  | "rules"
  | "schema";

const NETWORK_FIELDS: Record<string, FieldType> = {
  name: "string",
  listen: "strings",
  peers: "strings",
  mdns: "bool",
  relay: "bool",
  publisher_rate: "rate",
  publisher_burst: "count",
};
const AGENT_FIELDS: Record<string, FieldType> = {
  topics: "topics",
  host: "string",
  max_event_bytes: "bytes",
};
const SINK_COMMON_FIELDS: Record<string, FieldType> = {
  type: "string",
  topics: "patterns",
  min_priority: "priority",
  queue: "count",
  max_age: "duration",
  when: "filter",
};
const SINK_FIELDS: Record<SinkType, Record<string, FieldType>> = {
  stdout: { ...SINK_COMMON_FIELDS, summarize_after: "count" },
  file: { ...SINK_COMMON_FIELDS, path: "string", max_size: "bytes", keep: "count" },
  desktop: { ...SINK_COMMON_FIELDS, summarize_after: "count", max_popups: "count", popup_window: "duration" },
  exec: { ...SINK_COMMON_FIELDS, command: "argv", timeout: "duration", concurrency: "count", slow_after: "duration" },
  webhook: {
    ...SINK_COMMON_FIELDS,
    url: "url",
    format: "format",
    headers: "headers",
    secret: "string",
    timeout: "duration",
    retries: "count0",
  },
  plugin: {
    ...SINK_COMMON_FIELDS,
    path: "string",
    plugins: "string",
    timeout: "duration",
    allow_net: "strings",
    allow_read: "strings",
    allow_write: "strings",
    allow_run: "strings",
    allow_env: "strings",
  },
};
/** Keys a sink type cannot do without. */
const SINK_REQUIRED: Partial<Record<SinkType, [string, string][]>> = {
  exec: [["command", `command = ["/path/to/program", "arg"]`]],
  webhook: [["url", `url = "https://example.org/hook"`]],
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

type Fail = (path: KeyPath, problem: string) => never;

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
        layer.source = (value as unknown[]).map((entry, i) => readSource(entry, i, fail));
        break;
      case "topic":
        layer.topic = readTopicRules(value, fail, source);
        break;
      case "store": {
        const table = readTable<{ retention?: number; max_events?: number }>(value, ["store"], STORE_FIELDS, fail);
        layer.store = { retention_ms: table.retention, max_events: table.max_events };
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

const TOPIC_FIELDS: Record<string, FieldType> = { publishers: "peers", description: "string", schema: "schema" };
const STORE_FIELDS: Record<string, FieldType> = { retention: "duration", max_events: "count" };
const MEMBERSHIP_FIELDS: Record<string, FieldType> = { status_interval: "duration", leave_after: "duration" };

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

/** The text form of libp2p peer ids: base58btc of an identity or SHA-256 multihash. */
const PEER_ID_PATTERN = /^(12D3KooW|Qm|16U)[1-9A-HJ-NP-Za-km-z]{20,}$/;

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
  for (const [key, example] of SINK_REQUIRED[type as SinkType] ?? []) {
    if (!(key in table)) {
      fail([...path, "type"], `${type === "exec" ? "an" : "a"} ${type} sink needs ${key}, e.g. ${example}`);
    }
  }
  const sink = readTable<Partial<SinkConfig>>(table, path, SINK_FIELDS[type as SinkType], fail);
  if (type === "plugin") readPluginPaths(sink, path, fail, source);
  return sink;
}

/**
 * A plugin sink names one file (`path`) or a directory of them (`plugins`).
 * Its paths are relative to the config file, and checked now, so that a
 * typo stops the agent at start rather than leaving a plugin that never runs.
 */
function readPluginPaths(sink: Partial<SinkConfig>, path: KeyPath, fail: Fail, source: string): void {
  const base = dirname(source);
  if ((sink.path === undefined) === (sink.plugins === undefined)) {
    fail(
      [...path, "type"],
      `a plugin sink needs either path (one file, e.g. path = "notify.ts") or plugins (a directory, e.g. plugins = "plugins")`,
    );
  }
  const key = sink.path !== undefined ? "path" : "plugins";
  const target = resolve(base, (sink.path ?? sink.plugins)!);
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.statSync(target);
  } catch {
    fail([...path, key], `"sink.${key}" names ${target}, which does not exist`);
  }
  if (key === "path" && !info!.isFile) fail([...path, key], `"sink.path" names ${target}, which is not a file`);
  if (key === "plugins" && !info!.isDirectory) {
    fail([...path, key], `"sink.plugins" names ${target}, which is not a directory`);
  }
  if (key === "path" && !PLUGIN_FILE.test(target)) {
    fail([...path, key], `"sink.path" names ${target}; a plugin is a .ts, .js or .mjs file`);
  }
  sink[key] = target;
  for (const grant of ["allow_read", "allow_write"] as const) {
    if (sink[grant]) sink[grant] = sink[grant]!.map((granted) => resolve(base, granted));
  }
}

/** The files a plugin sink's `path` or `plugins` directory may name. */
export const PLUGIN_FILE = /\.(ts|js|mjs)$/;

const SOURCE_COMMON_FIELDS: Record<string, FieldType> = { type: "string", topic: "topic" };
const SOURCE_FIELDS: Record<SourceType, Record<string, FieldType>> = {
  fifo: { ...SOURCE_COMMON_FIELDS, path: "string", mode: "mode", owner: "string", group: "string" },
  http: { ...SOURCE_COMMON_FIELDS, listen: "string", token: "string", keepalive: "duration" },
  watch: { ...SOURCE_COMMON_FIELDS, path: "string", rules: "rules", rate: "count" },
};
const SOURCE_REQUIRED: Partial<Record<SourceType, [string, string][]>> = {
  fifo: [["path", `path = "/tmp/alert"`]],
  watch: [["path", `path = "/var/log/syslog"`], ["rules", `rules = [{ pattern = "ERROR (?<msg>.*)" }]`]],
};
const RULE_FIELDS: Record<string, FieldType> = {
  pattern: "string",
  topic: "topic",
  priority: "priority",
  title: "string",
  body: "string",
  tags: "strings",
};

function readSource(entry: unknown, index: number, fail: Fail): Partial<SourceConfig> {
  const path: KeyPath = ["source", index];
  if (!isTable(entry)) fail(path, `source ${index + 1} must be a table`);
  const table = entry as Record<string, unknown>;
  const type = table.type;
  if (!(SOURCE_TYPES as readonly unknown[]).includes(type)) {
    fail([...path, "type"], `source ${index + 1} needs a type (${SOURCE_TYPES.join(", ")}), not ${describe(type)}`);
  }
  for (const [key, example] of SOURCE_REQUIRED[type as SourceType] ?? []) {
    if (!(key in table)) fail([...path, "type"], `a ${type} source needs ${key}, e.g. ${example}`);
  }
  const source = readTable<Partial<SourceConfig>>(table, path, SOURCE_FIELDS[type as SourceType], fail);
  if (table.rules !== undefined) {
    source.rules = (table.rules as unknown[]).map((rule, i) => {
      const rulePath: KeyPath = [...path, "rules", i];
      const read = readTable<WatchRuleConfig>(rule, rulePath, RULE_FIELDS, fail);
      if (typeof read.pattern !== "string") fail(rulePath, `rule ${i + 1} needs a pattern`);
      try {
        new RegExp(read.pattern, "v");
      } catch (error) {
        fail(
          [...rulePath, "pattern"],
          `rule ${i + 1}'s pattern is not a regular expression: ${(error as Error).message}`,
        );
      }
      return read;
    });
  }
  return source;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// deno-lint-ignore no-explicit-any
function readTable<T = any>(
  value: unknown,
  path: KeyPath,
  fields: Record<string, FieldType>,
  fail: Fail,
): T {
  const name = path.filter((p) => typeof p === "string").join(".");
  if (!isTable(value)) fail(path, `"${name}" must be a table`);
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    const type = fields[key];
    if (!type) fail([...path, key], `unknown key "${name}.${key}"`);
    out[key] = readField(raw, type, (problem) => fail([...path, key], `"${name}.${key}" ${problem}`));
  }
  return out as T;
}

function readField(raw: unknown, type: FieldType, fail: (problem: string) => never): unknown {
  switch (type) {
    case "string":
      if (typeof raw !== "string") fail(`must be a string, not ${describe(raw)}`);
      return raw;
    case "bool":
      if (typeof raw !== "boolean") fail(`must be true or false, not ${describe(raw)}`);
      return raw;
    case "strings":
    case "topics":
      if (!Array.isArray(raw) || raw.some((item) => typeof item !== "string")) {
        fail(`must be a list of strings, not ${describe(raw)}`);
      }
      if (type === "topics") {
        for (const topic of raw as string[]) rethrow(() => checkTopic(topic), fail);
      }
      return raw;
    case "priority":
      if (typeof raw !== "number" && typeof raw !== "string") {
        fail(`must be 1-5 or a priority name, not ${describe(raw)}`);
      }
      return rethrow(() => parsePriority(raw as number | string), fail);
    case "bytes":
      return rethrow(() => parseBytes(raw), fail);
    case "count":
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 1) {
        fail(`must be a whole number of at least 1, not ${describe(raw)}`);
      }
      return raw;
    case "rate":
      if (typeof raw !== "number" || !(raw > 0) || !Number.isFinite(raw)) {
        fail(`must be a positive number, not ${describe(raw)}`);
      }
      return raw;
    case "duration":
      if (typeof raw !== "string") fail(`must be a duration such as "7d" or "12h", not ${describe(raw)}`);
      return rethrow(() => parseDuration(raw as string), fail);
    case "topic":
      if (typeof raw !== "string") fail(`must be a topic name, not ${describe(raw)}`);
      return rethrow(() => checkTopic(raw as string), fail);
    case "mode": {
      // TOML writes octal as 0o620; a string "0620" or "620" is read as octal too.
      const mode = typeof raw === "string" && /^0?[0-7]{3}$/.test(raw) ? parseInt(raw, 8) : raw;
      if (typeof mode !== "number" || !Number.isInteger(mode) || mode < 0 || mode > 0o777) {
        fail(`must be a permission mode such as 0o620 or "0620", not ${describe(raw)}`);
      }
      return mode;
    }
    case "rules":
      if (!Array.isArray(raw) || raw.length === 0 || raw.some((rule) => !isTable(rule))) {
        fail(`must be a list of rules such as [{ pattern = "ERROR (?<msg>.*)", priority = 4 }]`);
      }
      return raw;
    case "schema":
      if (typeof raw !== "string" && !isTable(raw)) {
        fail(`must be a JSON Schema as an inline table, or the path of a JSON file, not ${describe(raw)}`);
      }
      // TOML tables have no prototype; a schema is plain JSON wherever it came from.
      return typeof raw === "string" ? raw : JSON.parse(JSON.stringify(raw));
    case "count0":
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 0) {
        fail(`must be a whole number of at least 0, not ${describe(raw)}`);
      }
      return raw;
    case "patterns":
      if (!Array.isArray(raw) || raw.some((item) => typeof item !== "string")) {
        fail(`must be a list of topics or globs such as "builds.*", not ${describe(raw)}`);
      }
      for (const pattern of raw as string[]) rethrow(() => compileTopicPattern(pattern), fail);
      return raw;
    case "filter":
      if (typeof raw !== "string") fail(`must be an expression in a string, not ${describe(raw)}`);
      try {
        compileFilter(raw as string);
      } catch (error) {
        if (!(error instanceof FilterError)) throw error;
        // One line: the config error adds the line number, the column points into the expression.
        fail(`is invalid at column ${error.column}: ${error.reason}`);
      }
      return raw;
    case "argv":
      if (!Array.isArray(raw) || raw.length === 0 || raw.some((item) => typeof item !== "string" || item === "")) {
        fail(`must be a list such as ["/usr/local/bin/notify", "--quiet"]: the program, then its arguments`);
      }
      return raw;
    case "url": {
      let url: URL | undefined;
      try {
        url = typeof raw === "string" ? new URL(raw) : undefined;
      } catch {
        // Reported below.
      }
      if (!url || !["http:", "https:"].includes(url.protocol)) {
        fail(`must be an http:// or https:// URL, not ${describe(raw)}`);
      }
      return raw;
    }
    case "format":
      if (!(WEBHOOK_FORMATS as readonly unknown[]).includes(raw)) {
        fail(`must be one of ${WEBHOOK_FORMATS.join(", ")}, not ${describe(raw)}`);
      }
      return raw;
    case "headers":
      if (!isTable(raw) || Object.values(raw).some((value) => typeof value !== "string")) {
        fail(`must be a table of header names and string values, not ${describe(raw)}`);
      }
      for (const name of Object.keys(raw as Record<string, string>)) {
        if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) fail(`holds "${name}", which is not a header name`);
      }
      return raw;
    case "peers":
      if (!Array.isArray(raw) || raw.some((item) => typeof item !== "string")) {
        fail(`must be a list of peer ids, not ${describe(raw)}`);
      }
      for (const peer of raw as string[]) {
        if (!PEER_ID_PATTERN.test(peer)) fail(`holds "${peer}", which is not a peer id (see \`hark id\`)`);
      }
      return raw;
  }
}

function rethrow<T>(check: () => T, fail: (problem: string) => never): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof FilterError) return fail(`is invalid: ${error.reason}`);
    if (error instanceof EventError || error instanceof RangeError) {
      return fail(`is invalid: ${error.message}`);
    }
    throw error;
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "object") return "a table";
  return `${typeof value} ${String(value)}`;
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Accepts a byte count or a string such as `16KiB` or `10 MB`. */
export function parseBytes(raw: unknown): number {
  if (typeof raw === "number" && Number.isInteger(raw) && raw > 0) return raw;
  if (typeof raw === "string") {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
    const unit = match && BYTE_UNITS[match[2].toLowerCase()];
    const bytes = match && unit ? Math.round(Number(match[1]) * unit) : 0;
    if (bytes > 0) return bytes;
  }
  throw new RangeError(`${JSON.stringify(raw)} is not a size; use e.g. 16384, "16KiB" or "10MB"`);
}

/** Later layers win for scalars and append for lists. */
export function mergeConfig(base: ConfigLayer, over: ConfigLayer): ConfigLayer {
  return {
    network: mergeTable(base.network, over.network),
    agent: mergeTable(base.agent, over.agent),
    sink: [...(base.sink ?? []), ...(over.sink ?? [])],
    source: [...(base.source ?? []), ...(over.source ?? [])],
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
  const sinks = (layer.sink?.length ? layer.sink : defaultSinks(defaults.stateDir))
    .map((sink) => resolveSink(sink, defaults.stateDir));
  return {
    network: {
      name: network.name,
      listen: network.listen?.length ? network.listen : [DEFAULT_LISTEN],
      peers: network.peers ?? [],
      mdns: network.mdns ?? true,
      relay: network.relay ?? false,
      publisher_rate: network.publisher_rate ?? PUBLISHER_RATE_DEFAULT,
      publisher_burst: network.publisher_burst ?? PUBLISHER_BURST_DEFAULT,
    },
    agent: {
      topics: agent.topics?.length ? agent.topics : [DEFAULT_TOPIC],
      host: agent.host || defaults.host,
      max_event_bytes: maxEventBytes,
    },
    sinks,
    sources: (layer.source ?? []).map((source) => ({ ...source, type: source.type! })),
    store: {
      retention_ms: layer.store?.retention_ms ?? RETENTION_DEFAULT_MS,
      max_events: layer.store?.max_events ?? MAX_EVENTS_DEFAULT,
    },
    topic: layer.topic ?? {},
    membership: {
      status_interval_ms: layer.membership?.status_interval_ms ?? STATUS_INTERVAL_DEFAULT_MS,
      leave_after_ms: layer.membership?.leave_after_ms ?? LEAVE_AFTER_DEFAULT_MS,
    },
  };
}

function defaultSinks(stateDir: string): Partial<SinkConfig>[] {
  return [{ type: "stdout" }, { type: "file", path: inDir(stateDir, "events.jsonl") }];
}

function resolveSink(sink: Partial<SinkConfig>, stateDir: string): SinkConfig {
  return {
    type: sink.type!,
    topics: sink.topics,
    min_priority: sink.min_priority ?? 1,
    queue: sink.queue ?? SINK_QUEUE_DEFAULT,
    path: sink.type === "file" ? sink.path ?? inDir(stateDir, "events.jsonl") : sink.path,
    max_size: sink.max_size ?? FILE_MAX_SIZE_DEFAULT,
    keep: sink.keep ?? FILE_KEEP_DEFAULT,
    max_age: sink.max_age ?? MAX_AGE_DEFAULT_MS,
    summarize_after: sink.summarize_after ?? SUMMARIZE_AFTER_DEFAULT,
    when: sink.when,
    max_popups: sink.max_popups ?? MAX_POPUPS_DEFAULT,
    popup_window: sink.popup_window ?? POPUP_WINDOW_DEFAULT_MS,
    command: sink.command,
    timeout: sink.timeout ?? (sink.type === "webhook" ? WEBHOOK_TIMEOUT_DEFAULT_MS : EXEC_TIMEOUT_DEFAULT_MS),
    concurrency: sink.concurrency ?? EXEC_CONCURRENCY_DEFAULT,
    slow_after: sink.slow_after,
    url: sink.url,
    format: sink.format ?? "json",
    headers: sink.headers,
    secret: sink.secret,
    retries: sink.retries ?? WEBHOOK_RETRIES_DEFAULT,
    ...(sink.type === "plugin"
      ? {
        plugins: sink.plugins,
        allow_net: sink.allow_net,
        allow_read: sink.allow_read,
        allow_write: sink.allow_write,
        allow_run: sink.allow_run,
        allow_env: sink.allow_env,
      }
      : {}),
  };
}
