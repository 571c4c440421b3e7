/**
 * A plugin sink (the Shotgun event daemon's plugins): a TypeScript or
 * JavaScript file that exports `register(hark)` and acts on events in its
 * own Worker, with only the permissions its config grants.
 *
 * The router does the durable part, as for every sink: the plugin has its
 * own cursor in the store, and an event it fails on is retried with backoff
 * and not passed over. Here is what only a plugin needs:
 * - a handler that runs past `timeoutMs` (an endless loop) has its Worker
 *   terminated; the next attempt starts a fresh one;
 * - an uncaught error in the Worker is a failure, never the agent's crash;
 * - after `deactivateAfter` failures in a row the plugin is deactivated: it
 *   stops trying, its events wait in the store, and `hark status` says so;
 * - saving the file reloads it (and reactivates it) without a restart.
 */

import { getLogger } from "@logtape/logtape";
import { pathToFileURL } from "node:url";
import { type EventDraft, type HarkEvent, parseDraft } from "../../lib/event/event.ts";
import { compileTopicPattern } from "../../lib/filter.ts";
import type { DeliverOptions, Sink } from "../sink.ts";
import type { HostMessage, WorkerMessage } from "./protocol.ts";
import { type PluginGrants, workerPermissions } from "./permissions.ts";
import { type FileWatch, watchFile } from "./file_watch.ts";

const log = getLogger(["hark", "plugin"]);

const WORKER_URL = new URL("./worker.ts", import.meta.url);

/** Failures in a row after which a plugin is deactivated until its file changes. */
export const DEACTIVATE_AFTER = 5;
/** Ids of events a plugin sent, remembered so that it does not get them back. */
const SENT_REMEMBERED = 1024;

export interface PluginSinkInit {
  /** The plugin file, absolute. */
  path: string;
  /** How long loading or one event may take before the Worker is terminated (ms). */
  timeoutMs: number;
  grants: PluginGrants;
  /** Publishes as this agent (`ctx.send`); resolves to the event. */
  publish(draft: EventDraft): Promise<HarkEvent>;
  /** @default DEACTIVATE_AFTER */
  deactivateAfter?: number;
}

export type PluginState = "loading" | "ready" | "failing" | "deactivated" | "stopped";

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

class PluginFailure extends Error {}

export class PluginSink implements Sink {
  readonly name: string;
  /** A plugin's effects are outside the agent: after a crash only what was in flight comes again, marked. */
  readonly marksRepeats = true;
  readonly #init: PluginSinkInit;
  #worker?: Worker;
  /** Resolves when the current Worker has registered its handlers. */
  #loaded?: Promise<void>;
  #onLoaded?: Pending;
  /** Whether an event's topic is one the handlers listen on. */
  #wants?: (topic: string) => boolean;
  #topics: string[] = [];
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #failures = 0;
  #deactivated = false;
  #reactivated = Promise.withResolvers<void>();
  #watch?: FileWatch;
  #closed = false;
  #sent = new Set<string>();
  #publishing = new Set<Promise<unknown>>();
  #lastError?: string;
  #loads = 0;
  #terminations = 0;

  constructor(init: PluginSinkInit) {
    this.#init = init;
    this.name = `plugin:${init.path}`;
  }

  /** Watches the file and loads the plugin, so a broken one shows at start. Idempotent. */
  start(): void {
    if (this.#watch || this.#closed) return;
    this.#watch = watchFile(this.#init.path, () => this.#reload());
    this.#ensureLoaded().catch(() => {
      // Logged in #load; deliveries try again.
    });
  }

  async deliver(event: HarkEvent, { signal, repeat = false }: DeliverOptions): Promise<void> {
    // A send still in flight may be the very event that comes back here.
    if (this.#publishing.size > 0) await Promise.allSettled(this.#publishing);
    if (this.#sent.has(event.id)) return;
    while (this.#deactivated) await raceAbort(this.#reactivated.promise, signal);
    try {
      await raceAbort(this.#ensureLoaded(), signal);
      const worker = this.#worker;
      const wants = this.#wants;
      // Reloaded between loading and now: the router tries again on the new code.
      if (!worker || !wants) throw new Error("the plugin was reloaded");
      if (!wants(event.topic)) return;
      await this.#run(worker, event, repeat, signal);
      this.#succeeded();
    } catch (error) {
      if (error instanceof PluginFailure) this.#failed(error.message);
      throw error;
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#watch?.close();
    this.#watch = undefined;
    this.#terminate(new Error("the agent is stopping"), false);
    this.#reactivated.resolve();
    return Promise.resolve();
  }

  stats(): Record<string, unknown> {
    return {
      plugin: this.#state(),
      topics: this.#topics,
      failures_in_a_row: this.#failures,
      loads: this.#loads,
      terminated: this.#terminations,
      ...(this.#lastError ? { error: this.#lastError } : {}),
    };
  }

  #state(): PluginState {
    if (this.#closed) return "stopped";
    if (this.#deactivated) return "deactivated";
    if (this.#failures > 0) return "failing";
    return this.#wants ? "ready" : "loading";
  }

  #ensureLoaded(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("the plugin is stopped"));
    this.#loaded ??= this.#load();
    return this.#loaded;
  }

  #load(): Promise<void> {
    const { path, timeoutMs, grants } = this.#init;
    this.#loads++;
    const worker = new Worker(WORKER_URL, {
      type: "module",
      name: this.name,
      deno: { permissions: workerPermissions(path, grants) },
    });
    this.#worker = worker;
    worker.onmessage = (message: MessageEvent<WorkerMessage>) => this.#receive(worker, message.data);
    worker.onerror = (error: ErrorEvent) => {
      // Never let a plugin's error reach the agent's global scope (it would end the agent).
      error.preventDefault();
      if (worker === this.#worker) this.#terminate(new PluginFailure(`crashed: ${error.message}`), true);
    };
    const loaded = Promise.withResolvers<void>();
    this.#onLoaded = loaded;
    const timer = setTimeout(() => {
      this.#terminate(new PluginFailure(`did not load within ${seconds(timeoutMs)}; its Worker was stopped`), true);
    }, timeoutMs);
    // A query makes each load a new module, so an edited file is read afresh.
    const url = `${pathToFileURL(path).href}?load=${this.#loads}`;
    worker.postMessage({ type: "load", url, plugin: path } satisfies HostMessage);
    return loaded.promise.finally(() => clearTimeout(timer)).catch((error: Error) => {
      log.error("Plugin {plugin} cannot load: {error}", { plugin: path, error: error.message });
      this.#lastError = `cannot load: ${error.message}`;
      throw error;
    });
  }

  #run(worker: Worker, event: HarkEvent, repeat: boolean, signal: AbortSignal): Promise<void> {
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#pending.set(id, { resolve, reject });
    const timeoutMs = this.#init.timeoutMs;
    const timer = setTimeout(() => {
      const failure = new PluginFailure(
        `event ${event.id} took longer than ${seconds(timeoutMs)}; its Worker was stopped`,
      );
      this.#terminate(failure, true);
    }, timeoutMs);
    const onAbort = () => reject(new Error("the agent is stopping"));
    signal.addEventListener("abort", onAbort, { once: true });
    worker.postMessage({ type: "event", id, event, repeat } satisfies HostMessage);
    return promise.finally(() => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      this.#pending.delete(id);
    });
  }

  #receive(worker: Worker, message: WorkerMessage): void {
    if (worker !== this.#worker) return;
    switch (message.type) {
      case "loaded": {
        const patterns = message.topics.map(compileTopicPattern);
        this.#wants = (topic) => patterns.some((matches) => matches(topic));
        this.#topics = message.topics;
        log.info("Plugin {plugin} loaded; it handles {topics}", {
          plugin: this.#init.path,
          topics: message.topics.join(", "),
        });
        this.#onLoaded?.resolve();
        break;
      }
      case "load_failed":
        this.#terminate(new PluginFailure(message.error), false);
        break;
      case "done":
        this.#pending.get(message.id)?.resolve();
        break;
      case "failed":
        this.#pending.get(message.id)?.reject(new PluginFailure(message.error));
        break;
      case "send":
        this.#send(worker, message.ref, message.draft);
        break;
    }
  }

  #send(worker: Worker, ref: number, draft: EventDraft): void {
    const publishing = Promise.resolve(draft)
      // parseDraft throws on what structured clone brought that is not a draft.
      .then((raw) => this.#init.publish(parseDraft(raw)))
      .then((event) => {
        this.#remember(event.id);
        return { type: "sent", ref, id: event.id } satisfies HostMessage;
      }, (error: Error) => ({ type: "sent", ref, error: error.message }) satisfies HostMessage);
    this.#publishing.add(publishing);
    publishing.then((reply) => {
      this.#publishing.delete(publishing);
      if (worker === this.#worker) worker.postMessage(reply);
    });
  }

  #remember(id: string): void {
    this.#sent.add(id);
    if (this.#sent.size > SENT_REMEMBERED) this.#sent.delete(this.#sent.values().next().value!);
  }

  /** Ends the current Worker; what waited on it fails with `reason`. */
  #terminate(reason: Error, counts: boolean): void {
    const worker = this.#worker;
    if (!worker) return;
    this.#worker = undefined;
    this.#loaded = undefined;
    this.#wants = undefined;
    worker.terminate();
    if (counts) this.#terminations++;
    this.#onLoaded?.reject(reason);
    this.#onLoaded = undefined;
    for (const pending of this.#pending.values()) pending.reject(reason);
    this.#pending.clear();
  }

  #succeeded(): void {
    if (this.#failures > 0) log.info("Plugin {plugin} works again", { plugin: this.#init.path });
    this.#failures = 0;
    this.#lastError = undefined;
  }

  #failed(error: string): void {
    this.#failures++;
    this.#lastError = error;
    const limit = this.#init.deactivateAfter ?? DEACTIVATE_AFTER;
    if (this.#failures < limit || this.#deactivated) return;
    this.#deactivated = true;
    this.#terminate(new Error("deactivated"), false);
    log.error(
      "Plugin {plugin} failed {count} times in a row and is deactivated; its events wait in the store. Fix it and save the file to reload it: {error}",
      { plugin: this.#init.path, count: this.#failures, error },
    );
  }

  #reload(): void {
    if (this.#closed) return;
    log.info("Plugin {plugin} changed; reloading it", { plugin: this.#init.path });
    this.#terminate(new Error("the plugin was reloaded"), false);
    this.#failures = 0;
    this.#lastError = undefined;
    if (this.#deactivated) {
      this.#deactivated = false;
      this.#reactivated.resolve();
      this.#reactivated = Promise.withResolvers<void>();
    }
    this.#ensureLoaded().catch(() => {
      // Logged in #load.
    });
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Waits for `promise`; rejects when `signal` aborts first. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error("the agent is stopping"));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new Error("the agent is stopping"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
