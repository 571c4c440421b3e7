/**
 * The kinds of value a config key may hold, and the readers that check
 * them. Every table of the config (and each sink and source kind's schema,
 * see schema.ts) names its keys' kinds; the words of every error
 * about a value are here, so they read alike wherever the key is.
 */

import { type KeyPath } from "./locate.ts";
import { parseDuration } from "../util/duration.ts";
import { compileFilter, compileTopicPattern, FilterError } from "../filter.ts";
import { checkTopic, parsePriority } from "../event/event.ts";
import { EventError } from "../errors.ts";

export type FieldType =
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
  | "headers"
  | "count0"
  | "topic"
  | "mode"
  | "rules"
  | "schema";

/** A kind of its own, for a key only one sink or source has: checks `raw` and returns the value. */
export type FieldReader = (raw: unknown, fail: (problem: string) => never) => unknown;
export type FieldSpec = FieldType | FieldReader;

/** Stops reading: names the key at `path` and what is wrong with it. */
export type Fail = (path: KeyPath, problem: string) => never;

/** The text form of libp2p peer ids: base58btc of an identity or SHA-256 multihash. */
const PEER_ID_PATTERN = /^(12D3KooW|Qm|16U)[1-9A-HJ-NP-Za-km-z]{20,}$/;

export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// deno-lint-ignore no-explicit-any
export function readTable<T = any>(
  value: unknown,
  path: KeyPath,
  fields: Record<string, FieldSpec>,
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

function readField(raw: unknown, type: FieldSpec, fail: (problem: string) => never): unknown {
  if (typeof type === "function") return type(raw, fail);
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

export function rethrow<T>(check: () => T, fail: (problem: string) => never): T {
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

export function describe(value: unknown): string {
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
