/**
 * `[[escalate]]` rules: "if nobody acknowledges an urgent event on `alerts`
 * within 10 minutes, publish it on `oncall`" (or run a command). Read here,
 * carried out by lib/notifications/escalator.ts.
 */

import type { Priority } from "../event/event.ts";
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

const ESCALATE_FIELDS: Record<string, FieldSpec> = {
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
  if (rule.after === undefined || rule.after <= 0) fail(path, `${what} needs after, e.g. after = "10m"`);
  if ((rule.publish === undefined) === (rule.command === undefined)) {
    fail(
      path,
      `${what} needs one action: publish = { topic = "oncall" } or command = ["/usr/local/bin/page", "--team", "ops"]`,
    );
  }
  return {
    name: rule.name ?? defaultName(rule),
    topics: rule.topics!,
    min_priority: rule.min_priority ?? ESCALATE_MIN_PRIORITY_DEFAULT,
    after: rule.after!,
    ...(rule.publish ? { publish: rule.publish } : {}),
    ...(rule.command ? { command: rule.command } : {}),
  };
}

/** The same on every agent that has the same rule: its topics, deadline and action. */
function defaultName(rule: Partial<EscalateRule>): string {
  const action = rule.publish ? `publish:${rule.publish.topic}` : `command:${rule.command![0]}`;
  return `${rule.topics!.join(",")}/${rule.after}ms/${action}`;
}
