/**
 * `[[escalate]]`: an event nobody acknowledges within `after` is escalated
 * (published on another topic, or handed to a command) once mesh-wide, not
 * once per agent.
 *
 * Every agent with the rule keeps, per event it matches, only the deadline,
 * the rule and the event's number in the store, and one timer to the
 * nearest deadline: at the rate limit, with large events, a copy of each
 * event until its deadline would be hundreds of MB. The event is read again
 * from the store when it is due (an event no store keeps, `Cache: no`, is
 * held as it is: there is no other copy). At the deadline, if the notification is still open (no ack, no delete, no newer
 * version: the book decides, lib/notifications/book.ts), the agent ranks
 * itself as membership does for a departure: the lowest live peer id goes at
 * once, each other agent waits a stagger per live agent ranked before it.
 * The one that goes first publishes a `hark.escalation` marker, then acts;
 * the others see the marker and stay silent. When the would-be firer is
 * down (killed at its deadline), the next one's stagger runs out without a
 * marker, and it fires. Should two fire in a race after all, the escalated
 * event's sequence is derived from the original's id, so every agent's book
 * and desktop still show one notification.
 *
 * Markers and events are stored and caught up like any event: after a
 * restart the waits come back from the store, and an agent that comes back
 * after a deadline waits a stagger for a marker caught up from the others.
 */

import { getLogger } from "@logtape/logtape";
import type { EscalateRule } from "../config/escalate.ts";
import type { EventDraft, HarkEvent } from "../event/event.ts";
import { isReservedTopic } from "../event/event.ts";
import { compileTopicPattern } from "../filter.ts";
import { isMessage, sequenceOf } from "./book.ts";
import { ESCALATION_TOPIC, type EscalationFacts, escalationKey } from "./escalation_marker.ts";
import { runEscalationCommand } from "./escalation_command.ts";
import { MinHeap } from "../util/min_heap.ts";

const log = getLogger(["hark", "escalate"]);

/** Wait per live agent ranked before this one; also how long a late agent waits for a caught-up marker. */
export const ESCALATION_STAGGER_MS = 2_000;
/** Escalations remembered as done; the oldest are forgotten first. */
const FIRED_CAPACITY = 10_000;

export interface EscalatorInit {
  rules: EscalateRule[];
  /** This agent's peer id and host, named in what it publishes. */
  self: string;
  host: string;
  /** Live agents ranked before this one: members it is connected to with a lower peer id. */
  rankedBefore: () => number;
  /** Whether the event is still the newest step of an open notification. */
  isOpen: (event: HarkEvent) => boolean;
  /** The stored event with this local number, when the store still holds it. */
  load: (seq: number) => HarkEvent | undefined;
  /** Publishes as this agent; `reserved` for the marker on hark.escalation. */
  publish: (draft: EventDraft, reserved: boolean) => Promise<HarkEvent>;
  staggerMs?: number;
  now?: () => number;
}

interface CompiledRule extends EscalateRule {
  matches: (topic: string) => boolean;
}

/** An escalation waiting for its time: small, so that thousands cost little. */
interface Pending {
  key: string;
  rule: CompiledRule;
  /** The event's id, and its number in the store; or the event itself when no store keeps it. */
  id: string;
  seq?: number;
  unstored?: HarkEvent;
  /** The event's deadline (ms): its due time, or publish time, plus `after`. */
  deadline: number;
  /** When to look at it next (ms). */
  at: number;
  /** Whether agents ranked before this one have had their stagger. */
  waited: boolean;
}

export class Escalator {
  #init: EscalatorInit;
  #rules: CompiledRule[];
  /** Escalations waiting, by key; the queue orders them by `at`, for the one timer. */
  #pending = new Map<string, Pending>();
  #queue = new MinHeap<Pending>((a, b) => a.at < b.at);
  #timer?: ReturnType<typeof setTimeout>;
  #timerAt = Infinity;
  /** Escalations done, by key: who took each. Insertion order is age. */
  #fired = new Map<string, EscalationFacts>();
  #running = false;
  #firedHere = 0;
  #takenByOthers = 0;
  #last?: EscalationFacts & { at: string };

  constructor(init: EscalatorInit) {
    this.#init = init;
    this.#rules = init.rules.map((rule) => {
      const patterns = rule.topics.map(compileTopicPattern);
      return { ...rule, matches: (topic: string) => patterns.some((matches) => matches(topic)) };
    });
  }

  /** The longest `after` of any rule: how far back the store is read at start. */
  get horizonMs(): number {
    return Math.max(0, ...this.#rules.map((rule) => rule.after));
  }

  /**
   * Starts with what the store holds, oldest first: markers of escalations
   * done, and events whose deadline may still be ahead (or just passed).
   */
  start(stored: Iterable<{ seq: number; event: HarkEvent }>): void {
    if (this.#running || this.#rules.length === 0) return;
    this.#running = true;
    for (const { seq, event } of stored) this.observe(event, seq);
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#pending.clear();
    this.#queue.clear();
  }

  /**
   * Every event this agent stores or publishes: markers end waits, matching
   * messages start them. `seq` is its number in the store, undefined for an
   * event no store keeps.
   */
  observe(event: HarkEvent, seq?: number): void {
    if (!this.#running) return;
    if (event.topic === ESCALATION_TOPIC) return this.#marked(event);
    if (isReservedTopic(event.topic) || !isMessage(event)) return;
    for (const rule of this.#rules) {
      if (!rule.matches(event.topic) || event.priority < rule.min_priority) continue;
      const key = escalationKey(rule.name, event.id);
      if (this.#fired.has(key) || this.#pending.has(key)) continue;
      const now = this.#now();
      // A scheduled event is news from its due time: counted from `time` it would escalate at once, or never.
      const deadline = Date.parse(event.due ?? event.time) + rule.after;
      // Due more than `after` ago: the whole mesh was away; an escalation that late helps nobody.
      if (now - deadline > rule.after) continue;
      // Already due on arrival (caught up, or read at start): a marker may be on its way too.
      const at = deadline > now ? deadline : now + this.#stagger();
      const ref = seq === undefined ? { unstored: event } : { seq };
      this.#wait({ key, rule, id: event.id, ...ref, deadline, at, waited: false });
    }
  }

  /** For `hark status`. */
  stats(): Record<string, unknown> {
    return {
      rules: this.#rules.map((rule) => rule.name),
      pending: this.#pending.size,
      fired_here: this.#firedHere,
      taken_by_others: this.#takenByOthers,
      ...(this.#last ? { last: this.#last } : {}),
    };
  }

  #now(): number {
    return (this.#init.now ?? Date.now)();
  }

  /** Queues (or queues again) an escalation, and moves the timer earlier if it is now the nearest. */
  #wait(pending: Pending): void {
    this.#pending.set(pending.key, pending);
    this.#queue.push(pending);
    this.#arm();
  }

  /** The one timer, set to the nearest time in the queue. */
  #arm(): void {
    // Entries dropped from #pending (a marker came) or queued again later are skipped here, not searched for.
    while (this.#queue.size > 0 && this.#pending.get(this.#queue.peek()!.key) !== this.#queue.peek()) this.#queue.pop();
    const next = this.#queue.peek();
    if (!this.#running || next === undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    if (this.#timer !== undefined && this.#timerAt <= next.at) return;
    clearTimeout(this.#timer);
    this.#timerAt = next.at;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, next.at - this.#now()));
  }

  #tick(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#now();
    for (let next = this.#queue.peek(); next !== undefined && next.at <= now; next = this.#queue.peek()) {
      this.#queue.pop();
      if (this.#pending.get(next.key) !== next) continue;
      this.#pending.delete(next.key);
      this.#due(next);
    }
    this.#arm();
  }

  #stagger(): number {
    return this.#init.staggerMs ?? ESCALATION_STAGGER_MS;
  }

  #marked(marker: HarkEvent): void {
    const facts = marker.data as EscalationFacts;
    const key = escalationKey(facts.rule, facts.event);
    if (this.#fired.has(key)) return;
    this.#remember(key, facts, marker.time);
    // Its queue entry is skipped when it comes up.
    this.#pending.delete(key);
    if (facts.peer !== this.#init.self) {
      this.#takenByOthers++;
      log.info("Escalation {rule} of {event} on {topic} was taken by {host} ({peer})", { ...facts });
    }
  }

  #remember(key: string, facts: EscalationFacts, at: string): void {
    this.#fired.set(key, facts);
    this.#last = { ...facts, at };
    if (this.#fired.size > FIRED_CAPACITY) this.#fired.delete(this.#fired.keys().next().value!);
  }

  #due(pending: Pending): void {
    const { rule, key } = pending;
    if (!this.#running || this.#fired.has(key)) return;
    // As at arrival: an escalation more than `after` late (retried that long) helps nobody.
    if (this.#now() - pending.deadline > rule.after) return;
    const event = pending.unstored ?? this.#load(pending);
    // Pruned from the store meanwhile (its count cap), or no longer open: nothing to escalate.
    if (event === undefined || !this.#init.isOpen(event)) return;
    const rank = this.#init.rankedBefore();
    if (!pending.waited && rank > 0) {
      // An agent ranked before this one goes first; its marker ends this wait.
      this.#wait({ ...pending, at: this.#now() + rank * this.#stagger(), waited: true });
      return;
    }
    this.#fire(pending, event).catch((error) =>
      log.warn("Could not escalate {event} on {topic} ({rule}): {error}", {
        event: event.id,
        topic: event.topic,
        rule: rule.name,
        error: (error as Error).message,
      })
    );
  }

  #load(pending: Pending): HarkEvent | undefined {
    const event = this.#init.load(pending.seq!);
    return event?.id === pending.id ? event : undefined;
  }

  async #fire(pending: Pending, event: HarkEvent): Promise<void> {
    const { rule, key } = pending;
    const { self, host } = this.#init;
    const facts: EscalationFacts = {
      rule: rule.name,
      event: event.id,
      topic: event.topic,
      sequence: sequenceOf(event),
      peer: self,
      host,
    };
    this.#remember(key, facts, new Date().toISOString());
    this.#firedHere++;
    const label = event.title || event.body.slice(0, 80) || event.topic;
    const after = `${Math.round(rule.after / 1000)} s`;
    log.info("Nobody acknowledged {event} on {topic} within {after}: this agent takes escalation {rule}", {
      event: event.id,
      topic: event.topic,
      after,
      rule: rule.name,
    });
    // The marker first: the others stand down as soon as it arrives, whatever the action takes.
    try {
      await this.#init.publish({
        topic: ESCALATION_TOPIC,
        title: `${host} escalated "${label}" from ${event.topic}`,
        priority: 2,
        data: facts,
      }, true);
    } catch (error) {
      // No marker went out (this agent over its rate limit, say): not taken after all, so no other agent
      // stood down for this one. It tries again after a stagger, unless a marker or an ack comes first.
      this.#fired.delete(key);
      this.#firedHere--;
      if (this.#running && !this.#pending.has(key)) {
        this.#wait({ ...pending, at: this.#now() + this.#stagger(), waited: true });
      }
      throw error;
    }
    if (rule.command) {
      await runEscalationCommand(rule.command, event, facts);
      return;
    }
    await this.#init.publish({
      topic: rule.publish!.topic,
      title: `Escalated: ${label}`.slice(0, 256),
      body: `${event.body}\n\nNobody acknowledged this on ${event.topic} within ${after}; escalated by ${host}.`
        .slice(-4000),
      priority: event.priority,
      tags: event.tags,
      ...(event.click ? { click: event.click } : {}),
      // Derived from the original: escalations of it from two agents in a race are one notification.
      sequence: `esc-${event.id}`,
      data: {
        escalated: { id: event.id, topic: event.topic, sequence: facts.sequence },
        rule: rule.name,
        taken_by: { peer: self, host },
      },
    }, false);
  }
}
