/**
 * What the agent answers on its control socket. Requests arrive parsed
 * (parse.ts); this turns each into a call on the agent's parts and a reply.
 */

import type { Catalog } from "../event/catalog.ts";
import type { EventDraft, HarkEvent } from "../event/event.ts";
import type { HistoryBudget } from "../store/history_budget.ts";
import { HistoryPages } from "../store/history_pages.ts";
import { HarkError } from "../errors.ts";
import { compileFilter } from "../filter.ts";
import type { Follower, Followers } from "../followers.ts";
import type { Mesh } from "../mesh/mesh.ts";
import type { EventStore, HistoryQuery } from "../store/store.ts";
import type { ControlReply, ControlRequest, HistoryRequest, TailRequest } from "./protocol.ts";
import type { ControlHandlers } from "./server.ts";

export interface Published {
  event: HarkEvent;
  recipients: number;
  /** Whether this agent's own sinks got it too (it follows the topic). */
  local: boolean;
}

export interface AgentControlInit {
  mesh: Mesh;
  store: EventStore;
  catalog: Catalog;
  followers: Followers;
  /** What every reader of stored events together may hold. */
  historyBudget: HistoryBudget;
  /** agent.topics: what a request without topics means. */
  agentTopics: readonly string[];
  /** Every topic the agent subscribes to: agent.topics and the membership topics. */
  subscribed: ReadonlySet<string>;
  /** Publishes as this agent, under the rules every source keeps. */
  publish(draft: EventDraft): Promise<Published>;
  /** `hark status`: the agent's facts, gathered when asked. */
  status(): unknown;
}

export class AgentControl implements ControlHandlers {
  #init: AgentControlInit;

  constructor(init: AgentControlInit) {
    this.#init = init;
  }

  async handle(request: Exclude<ControlRequest, TailRequest | HistoryRequest>): Promise<ControlReply> {
    const { mesh } = this.#init;
    switch (request.op) {
      case "send": {
        const { event, recipients, local } = await this.#init.publish(request.event);
        return { ok: true, id: event.id, recipients, local, event };
      }
      case "peers":
        return { ok: true, peers: await mesh.peers() };
      case "id":
        return { ok: true, peer: mesh.peerId, addresses: mesh.addresses() };
      case "status":
        return { ok: true, status: this.#init.status() };
      case "clock":
        return { ok: true, clocks: await mesh.clocks() };
      case "topics":
        // The catalog merged with what the store knows of each topic's publishers.
        return {
          ok: true,
          topics: this.#init.catalog.list([...this.#init.agentTopics], this.#init.store.topicStats()),
        };
    }
  }

  /** `history`: the stored events the request asks for, a page at a time. */
  history(request: HistoryRequest): HistoryPages {
    return this.#pages(request);
  }

  tail(
    request: TailRequest,
    push: (reply: ControlReply) => void,
  ): { reply: ControlReply; pages?: HistoryPages; stop: () => void } {
    const { agentTopics, subscribed } = this.#init;
    const topics = request.topics ? new Set(request.topics) : undefined;
    // Without topics, a tail follows agent.topics; membership events only when named.
    const unknown = [...topics ?? []].filter((topic) => !subscribed.has(topic));
    const when = request.when === undefined ? undefined : compileFilter(request.when);
    const follower: Follower = {
      topics,
      push: (event) => {
        if (!when || when(event)) push({ ok: true, event });
      },
    };
    let stop = () => {};
    const follow = () => stop = this.#init.followers.add(follower);
    let pages: HistoryPages | undefined;
    // The follower starts in the same synchronous step as the last page of
    // history is read, so no event falls between them or comes twice.
    if (request.since_time !== undefined || request.since_id !== undefined) pages = this.#pages(request, follow);
    else follow();
    const reply: ControlReply = { ok: true, topics: [...(topics ?? agentTopics)] };
    if (unknown.length > 0) {
      reply.warning = `this agent does not subscribe to ${unknown.join(", ")}; add them to agent.topics`;
    }
    return { reply, pages, stop: () => stop() };
  }

  /** Stored events for `history` and `tail --since`. */
  #pages(request: HistoryRequest | TailRequest, onCaughtUp?: () => void): HistoryPages {
    const { store, historyBudget } = this.#init;
    // Without topics, agent.topics: membership events only when named, as for tail and sinks.
    const query: HistoryQuery = { topics: request.topics ?? [...this.#init.agentTopics] };
    if (request.since_time !== undefined) query.sinceTime = request.since_time;
    if (request.since_id !== undefined) {
      const seq = store.seqOf(request.since_id);
      if (seq === undefined) throw new HarkError(`no event with id ${JSON.stringify(request.since_id)} in the store`);
      query.afterSeq = seq;
    }
    if (request.op === "history" && request.limit !== undefined) query.limit = request.limit;
    // History lists what is scheduled and not yet due as well (marked so); tail shows events as they are delivered.
    if (request.op === "history") query.scheduled = true;
    return new HistoryPages({ store, budget: historyBudget, query, onCaughtUp });
  }
}
