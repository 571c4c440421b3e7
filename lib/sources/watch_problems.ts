/**
 * A watch source's last problem, shared by its follower and its publisher.
 * A problem is logged only when it differs from the last one, so a file
 * that stays unreadable does not flood the log at every poll.
 */

import { getLogger } from "@logtape/logtape";

const log = getLogger(["hark", "source", "watch"]);

export class ProblemNotes {
  /** The last problem, for `hark status`; cleared once the file is read again. */
  last: string | undefined;
  #lastLogged = "";

  note(text: string, level: "debug" | "warn"): void {
    this.last = text;
    if (text === this.#lastLogged) return;
    this.#lastLogged = text;
    if (level === "warn") log.warn("{text}", { text });
    else log.debug("{text}", { text });
  }

  clear(): void {
    this.last = undefined;
    this.#lastLogged = "";
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
