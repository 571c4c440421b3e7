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
/** A coalesce window's bounds: shorter groups nothing a person would notice; longer hides a new problem for days. */
export const COALESCE_MIN_MS = 1_000;
export const COALESCE_MAX_MS = 86_400_000;

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

/** `coalesce = "30s"`: 1 s to 1 day. */
const readCoalesce: FieldReader = (raw, fail) => {
  if (typeof raw !== "string") fail(`must be a duration such as "30s" or "5m", not ${describe(raw)}`);
  const window = rethrow(() => parseDuration(raw as string), fail);
  if (window < COALESCE_MIN_MS || window > COALESCE_MAX_MS) {
    fail(
      `is "${raw}"; use 1s to 1d. A window of 0 would group nothing; to turn coalescing off, remove coalesce (events sent with --dedup are still counted for 10 minutes)`,
    );
  }
  return window;
};

export const desktopSchema: SinkKindSchema<SinkConfig> = {
  fields: {
    summarize_after: "count",
    max_popups: "count",
    popup_window: "duration",
    repeat: readRepeat,
    coalesce: readCoalesce,
  },
  // Stale events are summed up alike on the console and on the desktop.
  defaults: {
    summarize_after: SUMMARIZE_AFTER_DEFAULT,
    max_popups: MAX_POPUPS_DEFAULT,
    popup_window: POPUP_WINDOW_DEFAULT_MS,
  },
};
