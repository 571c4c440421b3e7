/**
 * The inside of a plugin's Worker: imports the plugin, calls its
 * `register(hark)`, and runs the handlers that match each event the host
 * sends. Everything the plugin does happens here, under the permissions the
 * host gave this Worker; the agent only sees messages (./protocol.ts).
 */

import { compileFilter, compileTopicPattern } from "../../lib/filter.ts";
import type { EventDraft, HarkEvent } from "../../lib/event/event.ts";
import type { Handler, HandlerOptions, Hark, PluginContext, PluginModule } from "./api.ts";
import type { HostMessage, WorkerMessage } from "./protocol.ts";

interface Registration {
  topics: string[];
  matchesTopic: (topic: string) => boolean;
  when?: (event: HarkEvent) => boolean;
  handler: Handler;
}

// Typed by hand: this file is checked with the agent's (window) types.
const scope = globalThis as unknown as {
  postMessage(message: WorkerMessage): void;
  onmessage: ((message: MessageEvent<HostMessage>) => void) | null;
};

const registrations: Registration[] = [];
const pendingSends = new Map<number, { resolve: (id: string) => void; reject: (error: Error) => void }>();
let nextRef = 1;
let context: Omit<PluginContext, "repeat"> | undefined;

function post(message: WorkerMessage): void {
  scope.postMessage(message);
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

function makeHark(plugin: string): Hark {
  return {
    plugin,
    on(topics: string | string[], second: HandlerOptions | Handler, third?: Handler): void {
      const options = typeof second === "function" ? {} : second;
      const handler = typeof second === "function" ? second : third;
      if (typeof handler !== "function") {
        throw new TypeError("hark.on(topics, [options,] handler): handler must be a function");
      }
      const list = Array.isArray(topics) ? topics : [topics];
      if (list.length === 0 || list.some((topic) => typeof topic !== "string")) {
        throw new TypeError("hark.on(topics, ...): topics must be a topic, a glob or a list of them");
      }
      const patterns = list.map(compileTopicPattern);
      registrations.push({
        topics: list,
        matchesTopic: (topic) => patterns.some((matches) => matches(topic)),
        when: options.when === undefined ? undefined : compileFilter(options.when),
        handler,
      });
    },
  };
}

function makeContext(plugin: string): Omit<PluginContext, "repeat"> {
  return {
    plugin,
    send(draft: EventDraft): Promise<string> {
      const ref = nextRef++;
      return new Promise((resolve, reject) => {
        pendingSends.set(ref, { resolve, reject });
        post({ type: "send", ref, draft });
      });
    },
  };
}

async function load(url: string, plugin: string): Promise<void> {
  try {
    const module = await import(url) as Partial<PluginModule>;
    if (typeof module.register !== "function") {
      throw new Error("it does not export a register(hark) function");
    }
    await module.register(makeHark(plugin));
    if (registrations.length === 0) throw new Error("register(hark) called hark.on() for no topic");
    context = makeContext(plugin);
    post({ type: "loaded", topics: [...new Set(registrations.flatMap((entry) => entry.topics))] });
  } catch (error) {
    post({ type: "load_failed", error: describe(error) });
  }
}

async function handle(id: number, event: HarkEvent, repeat: boolean): Promise<void> {
  try {
    const ctx: PluginContext = { ...context!, repeat };
    for (const entry of registrations) {
      if (!entry.matchesTopic(event.topic) || (entry.when && !entry.when(event))) continue;
      await entry.handler(event, ctx);
    }
    post({ type: "done", id });
  } catch (error) {
    post({ type: "failed", id, error: describe(error) });
  }
}

scope.onmessage = ({ data: message }) => {
  switch (message.type) {
    case "load":
      void load(message.url, message.plugin);
      break;
    case "event":
      void handle(message.id, message.event, message.repeat);
      break;
    case "sent": {
      const pending = pendingSends.get(message.ref);
      pendingSends.delete(message.ref);
      if (message.id !== undefined) pending?.resolve(message.id);
      else pending?.reject(new Error(message.error ?? "the agent did not publish the event"));
      break;
    }
  }
};
