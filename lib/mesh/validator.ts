/**
 * Judges every message that arrives on a hark topic, before gossipsub
 * delivers or forwards it. This is where the network's rules are enforced:
 * signature policy, the event model and its limits, who may publish on a
 * topic, per-publisher rate limits and duplicate ids.
 *
 * A rejection counts against a peer's score, so repeat offenders are pruned
 * from the mesh and then ignored. Only the peer that signed a message is
 * blamed for breaking a rule that depends on configuration (publishers, rate
 * limits); a peer that merely forwarded it may run with other settings, so
 * its copy is ignored instead of rejected.
 */

import type { Message } from "@libp2p/gossipsub";
import { TopicValidatorResult } from "./libp2p.ts";
import { decodeEvent, type EventLimits, type HarkEvent, isReservedTopic } from "../event/event.ts";
import { type RateLimit, receiverLimit, spanCapacity, TokenBuckets } from "../rate_limit.ts";
import type { SignedRecord } from "../event/signed_record.ts";
import { type BatchEntry, decodeBatch, isBatch } from "./batch.ts";
import { fnv1a } from "../util/fnv.ts";

export const TOPIC_PREFIX = "hark/";

/** Why a message is not accepted. */
export type Refusal = {
  result: TopicValidatorResult.Reject | TopicValidatorResult.Ignore;
  reason: Rejection | "duplicate";
};

export type Verdict = { result: TopicValidatorResult.Accept; event: HarkEvent; fingerprint: number } | Refusal;

export type Rejection = "malformed" | "unauthorized" | "throttled" | "conflicting" | "off_schema" | "disputed";

/**
 * A rule about an event's content beyond the format: who an agent's
 * membership events may speak for, whether `data` fits its topic's schema,
 * whether a report of a departure agrees with this agent's own view.
 * Returns why the event is refused, or undefined to accept it.
 */
export type ContentCheck = (
  event: HarkEvent,
) => { reason: "unauthorized" | "off_schema" | "disputed"; detail: string } | undefined;

/** An event a message brought, with what the store keeps of it. */
export interface AcceptedEvent {
  event: HarkEvent;
  fingerprint: number;
  /** The event's own bytes as published. */
  data: Uint8Array;
  /** The publisher's signature over this event alone, when it came in a batch. */
  signed?: { seqno: Uint8Array; signature: Uint8Array };
}

/** The verdict on a gossip message: one event, or the new events of a batch. */
export type MessageVerdict = { result: TopicValidatorResult.Accept; events: AcceptedEvent[] } | Refusal;

/**
 * Catch-up judges an event by the publisher's stored events this close to
 * its publish time, either side: a publisher within its limit never has
 * more there than `spanCapacity` over twice this span.
 */
export const HISTORY_SPAN_MS = 10_000;

/** Events one batch may carry; a publisher sends at most this many. */
export const MAX_BATCH_EVENTS = 256;

export interface ValidatorCounters {
  accepted: number;
  /** Membership events (hark.node.*) from other agents that passed every check. */
  membership_received: number;
  duplicates: number;
  malformed: number;
  unauthorized: number;
  throttled: number;
  conflicting: number;
  /** Events whose `data` did not match their topic's schema. */
  off_schema: number;
  /** Reports of an agent's departure that this agent's own view contradicts. */
  disputed: number;
}

export interface ValidatorInit {
  limits: EventLimits;
  /** Topics that only the listed peer ids may publish on. */
  publishers: Map<string, Set<string>>;
  rate: RateLimit;
  /** Ids remembered in memory for duplicate detection. @default 100000 */
  seenCapacity?: number;
  /**
   * Looks up the fingerprint of an event stored earlier (the event store),
   * so duplicates are caught across restarts and beyond the memory.
   */
  lookup?: (publisher: string, id: string) => number | undefined;
  /** Rules about content, checked after the publisher rules. */
  check?: ContentCheck;
  /**
   * How many events of `publisher` the store holds published from `fromMs`
   * to `toMs`: catch-up admits an event only while that is within the rate
   * limit. Without it, history is not rate limited.
   */
  storedNear?: (publisher: string, fromMs: number, toMs: number) => number;
}

/** A cheap fingerprint to tell a re-sent event from a forged one. */
export function fingerprint(bytes: Uint8Array): number {
  return fnv1a(bytes);
}

export class EventValidator {
  readonly counters: ValidatorCounters = {
    accepted: 0,
    membership_received: 0,
    duplicates: 0,
    malformed: 0,
    unauthorized: 0,
    throttled: 0,
    conflicting: 0,
    off_schema: 0,
    disputed: 0,
  };
  #init: ValidatorInit;
  /** Publishers' buckets as receivers keep them, with room for delivery jitter. */
  #buckets: TokenBuckets;
  /** This agent's own bucket, exactly the configured limit, so receivers never find it over theirs. */
  #own: TokenBuckets;
  /** `publisher/id` → fingerprint; insertion order is age, oldest first. */
  #seen = new Map<string, number>();
  lastRejection?: { peer: string; reason: string };

  constructor(init: ValidatorInit) {
    this.#init = init;
    this.#buckets = new TokenBuckets(receiverLimit(init.rate));
    this.#own = new TokenBuckets(init.rate);
  }

  /** Whether `peer` may publish on `topic` under this agent's config. */
  mayPublish(peer: string, topic: string): boolean {
    return this.#init.publishers.get(topic)?.has(peer) ?? true;
  }

  /** Milliseconds until this agent, as `peer`, may publish again under the rate limit. */
  throttleDelay(peer: string): number {
    return this.#own.wait(peer);
  }

  /**
   * Takes a rate-limit token for an event this agent publishes itself, from
   * its own bucket: the configured limit exactly, stricter than the one
   * receivers hold it to (`receiverLimit`).
   */
  takeToken(peer: string): boolean {
    return this.#own.take(peer);
  }

  /** Remembers an event this agent published, so echoes of it are dropped. */
  remember(event: HarkEvent, bytes: Uint8Array): void {
    this.#remember(`${event.source.peer}/${event.id}`, fingerprint(bytes));
  }

  /** `source` is the peer the message came from, which need not be its signer. */
  validate(source: string, message: Message): MessageVerdict {
    if (message.type !== "signed") return this.#reject("malformed", "unsigned message", "?");
    const signer = message.from.toString();
    // Whether the sender is the author, and so answerable for the content.
    const blame = source === signer;
    if (isBatch(message.data)) return this.#judgeBatch(signer, message.topic, message.data, blame);
    const verdict = this.#judge(signer, message.topic, message.data, blame, true);
    if (!("event" in verdict)) return verdict;
    return {
      result: verdict.result,
      events: [{ event: verdict.event, fingerprint: verdict.fingerprint, data: message.data }],
    };
  }

  /**
   * A batch stands or falls whole: its publisher signed every event in it,
   * so one broken event is the publisher's fault and rejects the message.
   * Events already seen are left out; a batch of nothing new is a duplicate.
   */
  #judgeBatch(signer: string, wireTopic: string, data: Uint8Array, blame: boolean): MessageVerdict {
    let entries: BatchEntry[];
    try {
      entries = decodeBatch(data, MAX_BATCH_EVENTS);
    } catch (error) {
      return this.#reject("malformed", (error as Error).message, signer);
    }
    const accepted: AcceptedEvent[] = [];
    const keys: [string, number][] = [];
    for (const entry of entries) {
      // Judged without remembering, so a rejected batch leaves nothing behind.
      const verdict = this.#judge(signer, wireTopic, entry.data, blame, false, false);
      if ("event" in verdict) {
        const key = `${signer}/${verdict.event.id}`;
        if (keys.some(([seen]) => seen === key)) {
          return this.#reject("conflicting", `event ${verdict.event.id} twice in one batch`, signer, blame);
        }
        keys.push([key, verdict.fingerprint]);
        accepted.push({ ...verdict, data: entry.data, signed: { seqno: entry.seqno, signature: entry.signature } });
      } else if (verdict.reason !== "duplicate") {
        return verdict;
      }
    }
    if (accepted.length === 0) return { result: TopicValidatorResult.Ignore, reason: "duplicate" };
    if (!this.#buckets.take(signer, accepted.length)) {
      return this.#reject("throttled", "over the publisher rate limit", signer, blame);
    }
    for (const [key, print] of keys) this.#remember(key, print);
    for (const { event } of accepted) this.#countAccepted(event);
    return { result: TopicValidatorResult.Accept, events: accepted };
  }

  /**
   * Judges an event a peer served from its history; the caller has checked
   * the publisher's signature. The rate limit applies by publish time, not
   * arrival: a backlog arrives all at once, but an honest publisher's events
   * were within the limit when it published them, and a flooder's excess
   * was not (nor is it relayed, since it is never stored).
   */
  validateRecord(record: SignedRecord): Verdict {
    return this.#judge(record.publisher, TOPIC_PREFIX + record.topic, record.data, false, false, true, true);
  }

  /**
   * Whether the store has room, under the rate limit by publish time, for
   * one more event of `publisher` published at `timeMs`, beside `pending`
   * (publish times of its events about to be fetched). Lets catch-up skip
   * keys it would refuse before fetching them.
   */
  historyRoom(publisher: string, timeMs: number, pending: number[] = []): boolean {
    const near = (time: number) => Math.abs(time - timeMs) <= HISTORY_SPAN_MS;
    const stored = this.#init.storedNear?.(publisher, timeMs - HISTORY_SPAN_MS, timeMs + HISTORY_SPAN_MS) ?? 0;
    return stored + pending.filter(near).length < spanCapacity(this.#init.rate, 2 * HISTORY_SPAN_MS);
  }

  #judge(
    signer: string,
    wireTopic: string,
    data: Uint8Array,
    blame: boolean,
    limitRate: boolean,
    remember = true,
    limitByPublishTime = false,
  ): Verdict {
    // Size limits are a per-agent setting (agent.max_event_bytes): a relay
    // whose limit is larger did nothing wrong by passing this on.
    if (data.length > this.#init.limits.maxEventBytes) {
      const detail = `${data.length} bytes, over the limit of ${this.#init.limits.maxEventBytes}`;
      return this.#reject("malformed", detail, signer, blame);
    }
    let event: HarkEvent;
    try {
      event = decodeEvent(data, signer, this.#init.limits);
    } catch (error) {
      return this.#reject("malformed", (error as Error).message, signer);
    }
    if (TOPIC_PREFIX + event.topic !== wireTopic) {
      return this.#reject("malformed", `event topic "${event.topic}" sent on ${wireTopic}`, signer);
    }
    if (!this.mayPublish(signer, event.topic)) {
      return this.#reject("unauthorized", `not an allowed publisher of "${event.topic}"`, signer, blame);
    }
    const refusal = this.#init.check?.(event);
    // A schema is this agent's own rule, perhaps newer than its peers': the
    // publisher may not know it, so an off-schema event is dropped, not punished.
    // A disputed report may be honest from where its reporter stands (a partition).
    if (refusal) {
      return this.#reject(refusal.reason, refusal.detail, signer, blame && refusal.reason === "unauthorized");
    }
    const key = `${signer}/${event.id}`;
    const print = fingerprint(data);
    const seen = this.#seen.get(key) ?? this.#init.lookup?.(signer, event.id);
    if (seen !== undefined) {
      if (seen === print) {
        this.counters.duplicates++;
        return { result: TopicValidatorResult.Ignore, reason: "duplicate" };
      }
      // Which version a relay saw first is chance; only the author is at fault.
      return this.#reject("conflicting", `a different event with id ${event.id}`, signer, blame);
    }
    if (limitRate && !this.#buckets.take(signer)) {
      return this.#reject("throttled", "over the publisher rate limit", signer, blame);
    }
    if (limitByPublishTime && !this.historyRoom(signer, Date.parse(event.time))) {
      const detail = `history over the publisher rate limit around ${event.time}`;
      return this.#reject("throttled", detail, signer, blame);
    }
    if (remember) {
      this.#remember(key, print);
      this.#countAccepted(event);
    }
    return { result: TopicValidatorResult.Accept, event, fingerprint: print };
  }

  /** Membership events are the agents' own traffic, counted apart from the events users send. */
  #countAccepted(event: HarkEvent): void {
    if (isReservedTopic(event.topic)) this.counters.membership_received++;
    else this.counters.accepted++;
  }

  #remember(key: string, print: number): void {
    this.#seen.set(key, print);
    if (this.#seen.size > (this.#init.seenCapacity ?? 100_000)) {
      this.#seen.delete(this.#seen.keys().next().value!);
    }
  }

  #reject(reason: Rejection, detail: string, signer: string, blame = true): Refusal {
    this.counters[reason]++;
    this.lastRejection = { peer: signer, reason: detail };
    return { result: blame ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore, reason };
  }
}
