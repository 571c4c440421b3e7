/** The watch source's config keys (watch.ts), and its rules' keys. */

import type { KeyPath } from "../config/locate.ts";
import { type FieldSpec, readTable } from "../config/fields.ts";
import type { EntryContext, KindSchema } from "../config/schema.ts";
import type { Priority } from "../event/event.ts";
import type { SourceConfig } from "./config_registry.ts";

export interface WatchRuleConfig {
  pattern: string;
  topic?: string;
  priority?: Priority;
  title?: string;
  body?: string;
  tags?: string[];
}

export interface WatchOptions {
  /** watch: lines that become events. */
  rules?: WatchRuleConfig[];
  /** watch: events per minute before a storm becomes one summary. */
  rate?: number;
}

const RULE_FIELDS: Record<string, FieldSpec> = {
  pattern: "string",
  topic: "topic",
  priority: "priority",
  title: "string",
  body: "string",
  tags: "strings",
};

export const watchSchema: KindSchema<SourceConfig> = {
  fields: { path: "string", rules: "rules", rate: "count" },
  required: [["path", `path = "/var/log/syslog"`], ["rules", `rules = [{ pattern = "ERROR (?<msg>.*)" }]`]],
  afterRead: readRules,
};

/** Each rule's keys, and its pattern compiled now: a typo stops the agent at start. */
function readRules(source: Partial<SourceConfig>, { path, table, fail }: EntryContext): void {
  if (table.rules === undefined) return;
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
