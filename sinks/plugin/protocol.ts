/**
 * Messages between a plugin's host (./mod.ts, in the agent) and its Worker
 * (./worker.ts). Structured clone carries them; events are plain JSON.
 */

import type { EventDraft, HarkEvent } from "../../lib/event/event.ts";

export type HostMessage =
  /** Import the plugin at `url` and call its `register`. */
  | { type: "load"; url: string; plugin: string }
  /** Run the handlers that match `event`; answer with `done` or `failed` and the same `id`. */
  | { type: "event"; id: number; event: HarkEvent; repeat: boolean }
  /** The answer to a `send`. */
  | { type: "sent"; ref: number; id?: string; error?: string };

export type WorkerMessage =
  /** `register` returned; `topics` are the patterns the handlers listen on. */
  | { type: "loaded"; topics: string[] }
  | { type: "load_failed"; error: string }
  | { type: "done"; id: number }
  | { type: "failed"; id: number; error: string }
  /** `ctx.send(draft)`; the host answers with `sent` and the same `ref`. */
  | { type: "send"; ref: number; draft: EventDraft };
