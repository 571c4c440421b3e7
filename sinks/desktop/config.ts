/** The desktop sink's config keys (sinks/desktop/mod.ts). */

import type { SinkKindSchema } from "../../lib/config/schema.ts";
import type { FieldReader } from "../../lib/config/fields.ts";
import { describe, isTable, rethrow } from "../../lib/config/fields.ts";
import { parsePriority, type Priority } from "../../lib/event/event.ts";
import { parseDuration } from "../../lib/util/duration.ts";
import type { SinkConfig } from "../config_registry.ts";
import { SUMMARIZE_AFTER_DEFAULT } from "../stdout_config.ts";

export const MAX_POPUPS_DEFAULT = 5;
export const POPUP_WINDOW_DEFAULT_MS = 10_000;
/** The shortest repeat: a popup that comes back faster is noise, not a reminder. */
export const REPEAT_MIN_MS = 1_000;

/** desktop: re-show unacknowledged popups of at least `priority` every `every` (ms). */
export interface RepeatOption {
  priority: Priority;
  every: number;
}

export interface DesktopOptions {
  /** desktop: popups shown per `popup_window`; more collapse into one summary. */
  max_popups: number;
  popup_window: number;
  repeat?: RepeatOption;
  /** desktop: events of one topic and title within this long (ms) make one popup that counts them. */
  coalesce?: number;
}

/** `repeat = { priority = 5, every = "5m" }`. */
const readRepeat: FieldReader = (raw, fail) => {
  const example = `a table such as { priority = 5, every = "5m" }`;
  if (!isTable(raw)) fail(`must be ${example}, not ${describe(raw)}`);
  const table = raw as Record<string, unknown>;
  for (const key of Object.keys(table)) {
    if (key !== "priority" && key !== "every") fail(`has an unknown key "${key}": it must be ${example}`);
  }
  if (table.every === undefined) fail(`needs every, a duration: it must be ${example}`);
  if (typeof table.every !== "string") {
    fail(`has every as ${describe(table.every)}: write a duration such as every = "5m"`);
  }
  const every = rethrow(() => parseDuration(table.every as string), fail);
  if (every < REPEAT_MIN_MS) fail(`has every = "${table.every}"; use at least 1s`);
  const priority = table.priority === undefined ? 5 : rethrow(() => parsePriority(table.priority as number), fail);
  return { priority, every } satisfies RepeatOption;
};

export const desktopSchema: SinkKindSchema<SinkConfig> = {
  fields: {
    summarize_after: "count",
    max_popups: "count",
    popup_window: "duration",
    repeat: readRepeat,
    coalesce: "duration",
  },
  // Stale events are summed up alike on the console and on the desktop.
  defaults: {
    summarize_after: SUMMARIZE_AFTER_DEFAULT,
    max_popups: MAX_POPUPS_DEFAULT,
    popup_window: POPUP_WINDOW_DEFAULT_MS,
  },
};
