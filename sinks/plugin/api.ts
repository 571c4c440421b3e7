/**
 * What a plugin sees: the types of `register(hark)`, for plugin authors to
 * import (`import type { Hark } from "@hark/hark/plugin"`). A plugin is a
 * TypeScript or JavaScript module that exports `register`; hark runs it in a
 * Worker of its own with only the permissions its config grants.
 *
 * ```ts
 * import type { Hark } from "@hark/hark/plugin";
 *
 * export function register(hark: Hark) {
 *   hark.on("builds", { when: "priority >= 4" }, async (event, ctx) => {
 *     await ctx.send({ topic: "alerts", title: `build broke: ${event.title}` });
 *   });
 * }
 * ```
 */

import type { EventDraft, HarkEvent } from "../../lib/event/event.ts";

export type { EventDraft, HarkEvent };

export interface PluginContext {
  /** The plugin's name: its file path. */
  readonly plugin: string;
  /**
   * True when this event may have reached the handlers before: it was in
   * flight when the agent crashed or was killed. A handler whose effect must
   * not happen twice drops such an event by its `id`.
   */
  readonly repeat: boolean;
  /**
   * Publishes an event as this agent, under the same rules as `hark send`
   * (reserved topics, publishers, schema, rate limit). Resolves to its id.
   * The plugin's own handlers never receive what it sends.
   */
  send(draft: EventDraft): Promise<string>;
}

export type Handler = (event: HarkEvent, ctx: PluginContext) => void | Promise<void>;

export interface HandlerOptions {
  /** A filter expression, as a sink's `when` (`priority >= 4 && tags has "prod"`). */
  when?: string;
}

export interface Hark {
  /** The plugin's name: its file path. */
  readonly plugin: string;
  /**
   * Calls `handler` for each event on `topics` (names or globs such as
   * `builds.*`; `hark.node.*` for membership events). An event is done when
   * every matching handler has resolved; a handler that throws or times out
   * makes hark retry the event with backoff, so handlers should be
   * idempotent.
   */
  on(topics: string | string[], handler: Handler): void;
  on(topics: string | string[], options: HandlerOptions, handler: Handler): void;
}

/** The module a plugin file must be. */
export interface PluginModule {
  register(hark: Hark): void | Promise<void>;
}
