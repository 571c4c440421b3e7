/** The desktop sink's config keys (sinks/desktop/mod.ts). */

import type { SinkKindSchema } from "../../lib/config/schema.ts";
import type { SinkConfig } from "../config_registry.ts";
import { SUMMARIZE_AFTER_DEFAULT } from "../stdout_config.ts";

export const MAX_POPUPS_DEFAULT = 5;
export const POPUP_WINDOW_DEFAULT_MS = 10_000;

export interface DesktopOptions {
  /** desktop: popups shown per `popup_window`; more collapse into one summary. */
  max_popups: number;
  popup_window: number;
}

export const desktopSchema: SinkKindSchema<SinkConfig> = {
  fields: { summarize_after: "count", max_popups: "count", popup_window: "duration" },
  // Stale events are summed up alike on the console and on the desktop.
  defaults: {
    summarize_after: SUMMARIZE_AFTER_DEFAULT,
    max_popups: MAX_POPUPS_DEFAULT,
    popup_window: POPUP_WINDOW_DEFAULT_MS,
  },
};
