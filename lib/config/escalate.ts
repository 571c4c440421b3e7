/**
 * `[[escalate]]` rules: "if nobody acknowledges an urgent event on `alerts`
 * within 10 minutes, publish it on `oncall`" (or run a command). Read here,
 * carried out by lib/notifications/escalator.ts.
 */

import { isReservedTopic, type Priority } from "../event/event.ts";
import { compileTopicPattern } from "../filter.ts";
import type { KeyPath } from "./locate.ts";
import { type Fail, type FieldSpec, isTable, readTable } from "./fields.ts";

export interface EscalateRule {
  /** Names the rule in markers and logs; the same rule must have the same name on every agent. */
  name: string;
  /** Topics (or globs) whose events the rule watches. */
  topics: string[];
  /** Only events of at least this priority. */
  min_priority: Priority;
  /** How long an event may stay unacknowledged (ms). */
  after: number;
  /** Publish the escalation on this topic... */
  publish?: { topic: string };
  /** ...or run this program (argv, no shell). */
  command?: string[];
}

/** Urgent only, unless a rule says otherwise. */
export const ESCALATE_MIN_PRIORITY_DEFAULT: Priority = 5;

const PUBLISH_FIELDS: Record<string, FieldSpec> = { topic: "topic" };

export const ESCALATE_FIELDS: Record<string, FieldSpec> = {
  name: "string",
  topics: "patterns",
  min_priority: "priority",
  after: "duration",
  command: "argv",
};

/** Reads one `[[escalate]]` table; errors name the file's line and the key. */
export function readEscalateRule(entry: unknown, index: number, fail: Fail): EscalateRule {
  const path: KeyPath = ["escalate", index];
  if (!isTable(entry)) fail(path, `escalate ${index + 1} must be a table`);
  // `publish` is a table of its own keys, read after the rest.
  const { publish, ...table } = entry as Record<string, unknown>;
  const rule = readTable<Partial<EscalateRule>>(table, path, ESCALATE_FIELDS, fail);
  if (publish !== undefined) {
    if (!isTable(publish)) {
      fail([...path, "publish"], `"escalate.publish" must be a table such as { topic = "oncall" }`);
    }
    rule.publish = readTable(publish, [...path, "publish"], PUBLISH_FIELDS, fail);
    if (rule.publish!.topic === undefined) {
      fail([...path, "publish"], `"escalate.publish" needs a topic, e.g. publish = { topic = "oncall" }`);
    }
  }
  const what = `escalate ${index + 1}`;
  if (rule.topics === undefined || rule.topics.length === 0) {
    fail(path, `${what} needs topics, e.g. topics = ["alerts"]`);
  }
  if (rule.after === undefined) fail(path, `${what} needs after, e.g. after = "10m"`);
  if (rule.after! <= 0) fail([...path, "after"], `"escalate.after" must be more than 0s, e.g. after = "10m"`);
  if (rule.publish !== undefined && rule.command !== undefined) {
    fail(path, `${what} has both publish and command: keep one (two rules do both)`);
  }
  if (rule.publish === undefined && rule.command === undefined) {
    fail(
      path,
      `${what} needs one action: publish = { topic = "oncall" } or command = ["/usr/local/bin/page", "--team", "ops"]`,
    );
  }
  if (rule.publish) checkPublishTopic(rule.publish.topic, rule.topics!, [...path, "publish"], fail);
  return {
    name: rule.name ?? defaultName(rule),
    topics: rule.topics!,
    min_priority: rule.min_priority ?? ESCALATE_MIN_PRIORITY_DEFAULT,
    after: rule.after!,
    ...(rule.publish ? { publish: rule.publish } : {}),
    ...(rule.command ? { command: rule.command } : {}),
  };
}

/**
 * Refused at load, since the rule would fail or loop only once an alert is
 * already unacknowledged: agents may not publish on `hark.*`, and an
 * escalation on a topic the rule watches carries the same priority, so it
 * would be escalated again every `after`, for as long as nobody acknowledges.
 */
function checkPublishTopic(topic: string, watched: string[], path: KeyPath, fail: Fail): void {
  if (isReservedTopic(topic)) {
    fail(path, `"escalate.publish" cannot publish on "${topic}": hark.* topics are the agents' own; use e.g. "oncall"`);
  }
  const pattern = watched.find((glob) => compileTopicPattern(glob)(topic));
  if (pattern !== undefined) {
    fail(
      path,
      `"escalate.publish" topic "${topic}" is one the rule watches (${pattern}): each escalation would be escalated again; publish on a topic outside topics, e.g. "oncall"`,
    );
  }
}

/** The same on every agent that has the same rule: its topics, deadline and action. */
function defaultName(rule: Partial<EscalateRule>): string {
  const action = rule.publish ? `publish:${rule.publish.topic}` : `command:${rule.command![0]}`;
  return `${rule.topics!.join(",")}/${rule.after}ms/${action}`;
}
