/**
 * A watch source's rules: checked and compiled when the config is read, so
 * that a bad pattern, a pattern that could backtrack without bound, or a
 * template naming a group the pattern lacks stops the agent at start.
 */

import { ConfigError } from "../errors.ts";
import { checkTopic, parsePriority, type Priority, TAG_MAX_CHARS, TAGS_MAX } from "../event/event.ts";

/** One rule of a watch source, as written in the config. */
export interface WatchRule {
  /** A JavaScript regular expression (compiled with the `v` flag); named groups fill template fields. */
  pattern: string;
  /** @default the source's `topic`, else none (the agent's default) */
  topic?: string;
  /** 1-5 or a name. @default 3 */
  priority?: number | string;
  /** Template with `{host}`, `{line}`, `{path}` and named groups. @default the file name */
  title?: string;
  /** Template like `title`. @default the whole line */
  body?: string;
  tags?: string[];
}

/** A rule checked and ready to match. */
export interface CompiledRule {
  /** 1-based position in the config, for messages. */
  index: number;
  regex: RegExp;
  topic?: string;
  priority: Priority;
  title?: string;
  body?: string;
  tags: string[];
}

const RULE_KEYS = new Set(["pattern", "topic", "priority", "title", "body", "tags"]);
const BUILTIN_FIELDS = new Set(["host", "line", "path"]);
/** `{name}` in a title or body template. */
export const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** `(?<name>` opens a named group; `(?<=` and `(?<!` are lookbehinds and do not match. */
const GROUP_NAME = /\(\?<([A-Za-z_$][A-Za-z0-9_$]*)>/g;

/**
 * Checks and compiles watch rules. Throws a `ConfigError` (a `HarkError`)
 * naming the rule (1-based) and what is wrong with it.
 */
export function compileRules(rules: readonly WatchRule[]): CompiledRule[] {
  if (!Array.isArray(rules) || rules.length === 0) {
    throw new ConfigError(`a watch source needs at least one rule, e.g. { pattern = "ERROR (?<msg>.*)" }`);
  }
  return rules.map((rule, i) => compileRule(rule, i + 1));
}

function compileRule(rule: WatchRule, index: number): CompiledRule {
  const fail = (why: string): never => {
    const pattern = typeof rule?.pattern === "string" ? ` (${JSON.stringify(rule.pattern)})` : "";
    throw new ConfigError(`watch rule ${index}${pattern}: ${why}`);
  };
  if (typeof rule !== "object" || rule === null || Array.isArray(rule)) fail("must be a table");
  for (const key of Object.keys(rule)) {
    if (!RULE_KEYS.has(key)) fail(`unknown key "${key}" (use ${[...RULE_KEYS].join(", ")})`);
  }
  if (typeof rule.pattern !== "string" || rule.pattern === "") fail("needs a pattern");
  let regex: RegExp;
  try {
    // The `v` flag, as the config reader uses, so a pattern means the same everywhere.
    regex = new RegExp(rule.pattern, "v");
  } catch (error) {
    return fail(`invalid pattern: ${(error as Error).message}`);
  }
  // A log line is untrusted input: a pattern that backtracks exponentially
  // would let one crafted line freeze the agent.
  const nested = nestedQuantifier(rule.pattern);
  if (nested) fail(`pattern ${nested}; it can backtrack catastrophically, rewrite it without nesting`);
  let topic: string | undefined;
  if (rule.topic !== undefined) {
    try {
      topic = checkTopic(rule.topic);
    } catch (error) {
      fail((error as Error).message);
    }
  }
  let priority: Priority = 3;
  if (rule.priority !== undefined) {
    try {
      priority = parsePriority(rule.priority);
    } catch (error) {
      fail((error as Error).message);
    }
  }
  const tags = rule.tags ?? [];
  if (!Array.isArray(tags) || tags.length > TAGS_MAX) fail(`tags must be a list of at most ${TAGS_MAX}`);
  for (const tag of tags) {
    if (!isTag(tag)) {
      fail(`invalid tag ${JSON.stringify(tag)}: use 1-${TAG_MAX_CHARS} characters without spaces or commas`);
    }
  }
  const groups = new Set([...rule.pattern.matchAll(GROUP_NAME)].map((m) => m[1]));
  for (const field of ["title", "body"] as const) {
    const template = rule[field];
    if (template === undefined) continue;
    if (typeof template !== "string") fail(`${field} must be a string`);
    for (const [, name] of template.matchAll(PLACEHOLDER)) {
      if (!BUILTIN_FIELDS.has(name) && !groups.has(name)) {
        fail(`${field} uses {${name}}, which is neither host, line, path nor a named group of the pattern`);
      }
    }
  }
  return { index, regex, topic, priority, title: rule.title, body: rule.body, tags: [...tags] };
}

/**
 * Finds a quantified group that itself contains an unbounded quantifier, such
 * as `(a+)+` or `(?:.*x)*`: the shape behind most catastrophic backtracking.
 * A heuristic; the line length cap bounds what it misses. Returns a
 * description of the problem, or undefined.
 */
function nestedQuantifier(source: string): string | undefined {
  const stack: { start: number; unbounded: boolean }[] = [{ start: 0, unbounded: false }];
  let i = 0;
  // Each step advances i, so the walk ends after at most source.length steps.
  while (i < source.length) {
    const c = source[i];
    if (c === "\\") {
      i += 2;
    } else if (c === "[") {
      i = skipClass(source, i);
    } else if (c === "(") {
      stack.push({ start: i, unbounded: false });
      i++;
    } else if (c === ")") {
      const group = stack.length > 1 ? stack.pop()! : { start: 0, unbounded: false };
      i++;
      const quantifier = readQuantifier(source, i);
      if (quantifier.unbounded && group.unbounded) {
        return `nests unbounded quantifiers in ${source.slice(group.start, i + quantifier.length)}`;
      }
      stack[stack.length - 1].unbounded ||= group.unbounded || quantifier.unbounded;
      i += Math.max(quantifier.length, 0);
    } else {
      const quantifier = readQuantifier(source, i);
      if (quantifier.length > 0) {
        stack[stack.length - 1].unbounded ||= quantifier.unbounded;
        i += quantifier.length;
      } else {
        i++;
      }
    }
  }
  return undefined;
}

/** Returns the index after a character class starting at `start` (nested classes allowed, as with `v`). */
function skipClass(source: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < source.length) {
    const c = source[i];
    if (c === "\\") {
      i += 2;
      continue;
    }
    if (c === "[") depth++;
    else if (c === "]" && --depth === 0) return i + 1;
    i++;
  }
  return i;
}

function readQuantifier(source: string, i: number): { length: number; unbounded: boolean } {
  const c = source[i];
  let length = 0;
  let unbounded = false;
  if (c === "*" || c === "+") {
    length = 1;
    unbounded = true;
  } else if (c === "?") {
    length = 1;
  } else if (c === "{") {
    const match = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i, i + 24));
    if (match) {
      length = match[0].length;
      unbounded = match[2] !== undefined && match[3] === "";
    }
  }
  // A lazy or possessive-looking suffix belongs to the quantifier.
  if (length > 0 && source[i + length] === "?") length++;
  return { length, unbounded };
}

export function isTag(tag: unknown): tag is string {
  return typeof tag === "string" && tag.length > 0 && tag.length <= TAG_MAX_CHARS && !/[\s,]/.test(tag);
}
