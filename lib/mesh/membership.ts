/**
 * Membership events, as Serf's member-join/member-leave and Clacks'
 * NodeAnnounce/NodeLeave: so sinks and plugins can react to machines
 * coming and going.
 *
 * - `hark.node.join`: an agent announces itself once it has a peer to tell.
 * - `hark.node.status`: the same facts again every `status_interval`, so an
 *   agent that came later learns who is there. Past `STATUS_MEMBERS` members
 *   the interval grows with them (`statusDelayMs`), so what each agent
 *   receives stays the same however large the network.
 * - `hark.node.leave`: an agent says goodbye when it stops. One that
 *   vanishes without a word (killed, crashed, unplugged) is reported by the
 *   agents that were connected to it, once it has been gone `leave_after`
 *   (a connection whose pings go unanswered is closed after the ping
 *   deadline, so a silent machine counts as gone too).
 *
 * They are events like any other, signed by their publisher. A receiver
 * accepts a join, status or "stopped" leave only about its signer, and an
 * "unreachable" leave only about another agent (`checkMembershipEvent`),
 * and only when its own view agrees (`checkReport`): any member can sign a
 * report, so one about an agent this one still hears from is ignored.
 *
 * Of the agents that notice a departure, the one with the lowest peer id
 * among the members it is still connected to reports it at once; each
 * other waits a stagger per agent ranked before it and stays silent when a
 * report arrives first. In a full mesh that is one leave per departure; in
 * a patchy one, at worst a few, never none.
 */

import { type EventDraft, type HarkEvent, isReservedTopic } from "../event/event.ts";
import { getLogger } from "@logtape/logtape";
import { LEAVE_AFTER_DEFAULT_MS, STATUS_INTERVAL_DEFAULT_MS } from "../config/config.ts";
import { delay } from "../util/delay.ts";
import { checkEscalationMarker, ESCALATION_TOPIC } from "../notifications/escalation_marker.ts";

const log = getLogger(["hark", "membership"]);

export const JOIN_TOPIC = "hark.node.join";
export const LEAVE_TOPIC = "hark.node.leave";
export const STATUS_TOPIC = "hark.node.status";
export const MEMBERSHIP_TOPICS: readonly string[] = [JOIN_TOPIC, LEAVE_TOPIC, STATUS_TOPIC];

/** How long a stopping agent waits for its leave to go out. */
const LEAVE_SEND_MS = 2_000;
/** A join goes out without a peer after this long, into the store, for catch-up to carry. */
const LONELY_JOIN_MS = 10_000;
/**
 * A report of a departure is believed when the agent has been silent this
 * much less than `leave_after` (at most half of it): the reporter's clock
 * started when its own connection closed, which may be a moment before the
 * agent's last event reached this one.
 */
const REPORT_ALLOWANCE_MS = 2_000;
/** What is kept of a member's topics and addresses: a member cannot make others hold more. */
export const MAX_TOPICS_HEARD = 64;
const MAX_ADDRESSES_HEARD = 8;
const MAX_FACT_CHARS = 256;
/**
 * When the topics an agent follows change (an ntfy client subscribes to a
 * new one, or one goes unused), a status says so after this long, gathering a
 * burst of changes into one, and never sooner than `CHANGED_GAP_MS` (or
 * the status interval, when shorter) after the last join or status: every
 * member receives each one.
 */
const CHANGED_DELAY_MS = 5_000;
const CHANGED_GAP_MS = 60_000;
/** Publishers whose last event's arrival is remembered; the oldest are forgotten beyond this. */
const HEARD_CAPACITY = 10_000;

/**
 * Members whose statuses fit in one `status_interval`. Every agent receives
 * every status, so with a fixed interval each one's share grows with the
 * network: at 1,000 agents and 5 minutes, 200 a minute into every agent and
 * store. Beyond this many, the interval grows in step: by default 5 min up to
 * 60 members, then 5 s per member, about 12 statuses a minute into each.
 *
 * Why so few: statuses are an idle fleet's traffic, and every agent checks,
 * stores, passes on and advertises each one. At 300 agents on one LAN,
 * cutting them from 60 to 12 a minute into each agent halved the time the
 * simulator took to publish 100 events (docs/scale.md, fifth round).
 * Nothing waits on them: a newcomer learns the members from the statuses its
 * first peer's store holds (catch-up), and departures are noticed from
 * connections, not from statuses that stop.
 */
export const STATUS_MEMBERS = 60;
/** Each status waits this share of the interval more or less, at random, so agents started together drift apart. */
const STATUS_JITTER = 0.1;

/**
 * How long until this agent's next status: `baseMs`, stretched in proportion
 * once the network has more than `STATUS_MEMBERS` members, spread by ±10%.
 * `random` is in [0, 1).
 */
export function statusDelayMs(baseMs: number, members: number, random: number): number {
  const interval = baseMs * Math.max(1, members / STATUS_MEMBERS);
  return Math.round(interval * (1 - STATUS_JITTER + 2 * STATUS_JITTER * random));
}

export type LeaveReason = "stopped" | "unreachable";

/** What a membership event's `data` holds. */
export interface MemberFacts {
  peer: string;
  host: string;
  version?: string;
  topics?: string[];
  uptime_s?: number;
  /** Agents this one is connected to. */
  peers?: number;
  /** Where other agents can dial it (each ending in its peer id), so followers of a topic can find each other. */
  addresses?: string[];
  /** Leaves only. */
  reason?: LeaveReason;
  /** What this agent's config says about its topics (lib/event/catalog.ts). */
  catalog?: Record<string, { description?: string; schema?: Record<string, unknown> }>;
}

/** Why a membership event is refused, or undefined when its claims are its signer's to make. */
export function checkMembershipEvent(event: HarkEvent): { reason: "unauthorized"; detail: string } | undefined {
  if (!MEMBERSHIP_TOPICS.includes(event.topic)) {
    if (!isReservedTopic(event.topic)) return undefined;
    // An escalation marker (lib/notifications/escalator.ts) names its signer as the agent that took it.
    if (event.topic === ESCALATION_TOPIC) return checkEscalationMarker(event);
    return { reason: "unauthorized", detail: `"${event.topic}" is reserved and unused` };
  }
  const data = event.data as Partial<MemberFacts> | undefined;
  if (typeof data !== "object" || data === null || typeof data.peer !== "string") {
    return { reason: "unauthorized", detail: `${event.topic} without data.peer` };
  }
  const aboutSigner = data.peer === event.source.peer;
  if (event.topic === LEAVE_TOPIC && data.reason === "unreachable") {
    return aboutSigner ? { reason: "unauthorized", detail: "an agent reporting itself unreachable" } : undefined;
  }
  if (!aboutSigner) return { reason: "unauthorized", detail: `${event.topic} about another agent, ${data.peer}` };
  return undefined;
}

export interface MembershipInit {
  /** This agent's peer id. */
  self: string;
  /** Publishes as this agent on a membership topic. */
  publish: (draft: EventDraft) => Promise<unknown>;
  /** This agent's facts for a join or status: host, version, topics, peers. */
  facts: () => MemberFacts;
  /** Whether this agent has a connection to `peer` now. */
  connected: (peer: string) => boolean;
  /**
   * The agents this one has a connection to now, each once. Known at once, unlike
   * members, which an agent learns from joins and statuses (a restarted
   * agent may wait a whole `status_interval` for them).
   */
  connectedPeers?: () => string[];
  /** Between statuses while the network has up to `STATUS_MEMBERS` members; 0 for none. */
  statusIntervalMs?: number;
  leaveAfterMs?: number;
  /** For the spread of status times. @default Math.random */
  random?: () => number;
  /** Wait per agent ranked before this one, before reporting a departure. @default 1000 */
  staggerMs?: number;
  now?: () => number;
}

interface Member {
  host: string;
  /** How many peers it said it had, in its last join or status. */
  peers?: number;
  /** The topics it said it follows, and where to dial it. */
  topics?: string[];
  addresses?: string[];
  /** Set while the member is disconnected: its report is due then. */
  timer?: ReturnType<typeof setTimeout>;
}

export class Membership {
  #init: MembershipInit;
  #members = new Map<string, Member>();
  #joined = false;
  #running = false;
  #lonelyJoin?: ReturnType<typeof setTimeout>;
  #statusTimer?: ReturnType<typeof setTimeout>;
  #changedTimer?: ReturnType<typeof setTimeout>;
  /** When this agent's last join or status went out. */
  #announcedAt = -Infinity;
  /** When a live event signed by each agent last arrived; insertion order is age. */
  #heard = new Map<string, number>();

  constructor(init: MembershipInit) {
    this.#init = init;
  }

  /** A live event signed by `peer` arrived: it was up a moment ago, whatever anyone reports. */
  heardFrom(peer: string): void {
    this.#heard.delete(peer);
    this.#heard.set(peer, this.#now());
    if (this.#heard.size > HEARD_CAPACITY) this.#heard.delete(this.#heard.keys().next().value!);
  }

  /**
   * Judges another agent's report that a peer is unreachable against this
   * agent's own view: believed only when this agent is not connected to the
   * peer and has heard nothing signed by it within `leave_after`. Anything
   * else is not this agent's business (undefined).
   */
  checkReport(event: HarkEvent): { reason: "disputed"; detail: string } | undefined {
    const facts = event.data as Partial<MemberFacts> | undefined;
    if (event.topic !== LEAVE_TOPIC || facts?.reason !== "unreachable" || typeof facts.peer !== "string") return;
    const peer = facts.peer;
    if (peer === this.#init.self) return { reason: "disputed", detail: "reports this agent unreachable" };
    if (this.#init.connected(peer)) {
      return { reason: "disputed", detail: `reports ${peer} unreachable, but this agent is connected to it` };
    }
    const leaveAfter = this.#init.leaveAfterMs ?? LEAVE_AFTER_DEFAULT_MS;
    const silent = this.#now() - (this.#heard.get(peer) ?? -Infinity);
    if (silent < leaveAfter - Math.min(REPORT_ALLOWANCE_MS, leaveAfter / 2)) {
      return {
        reason: "disputed",
        detail: `reports ${peer} unreachable, but this agent heard from it ${Math.round(silent / 1000)} s ago`,
      };
    }
    return undefined;
  }

  #now(): number {
    return (this.#init.now ?? Date.now)();
  }

  /** How many peers `peer` said it had in its last join or status, if it said. */
  reportedPeers(peer: string): number | undefined {
    return this.#members.get(peer)?.peers;
  }

  /** Whether member `peer` said it follows `topic`. */
  follows(peer: string, topic: string): boolean {
    return this.#members.get(peer)?.topics?.includes(topic) ?? false;
  }

  /** Members that said they follow `topic`, with the addresses they gave. */
  followersOf(topic: string): { peer: string; addresses: string[] }[] {
    const followers: { peer: string; addresses: string[] }[] = [];
    for (const [peer, member] of this.#members) {
      if (member.topics?.includes(topic)) followers.push({ peer, addresses: member.addresses ?? [] });
    }
    return followers;
  }

  /** Agents known to be in the network now (from their join and status events), with their hosts. */
  get members(): { peer: string; host: string }[] {
    return [...this.#members].map(([peer, member]) => ({ peer, host: member.host }));
  }

  /**
   * Live agents ranked before this one: those with a lower peer id it is
   * connected to, whether or not they have announced themselves to it yet.
   * The agent ranked first (none before it) acts for the mesh where one
   * must act alone, as for an escalation (lib/notifications/escalator.ts).
   */
  rankedBefore(): number {
    const live = this.#init.connectedPeers?.() ?? this.#connectedMembers();
    return live.filter((other) => other < this.#init.self).length;
  }

  /**
   * The members this agent is connected to. From the connections when it
   * can list them: a fleet has far more members than an agent connections.
   */
  #connectedMembers(): string[] {
    const connected = this.#init.connectedPeers?.();
    if (connected) return connected.filter((peer) => this.#members.has(peer));
    return [...this.#members.keys()].filter((member) => this.#init.connected(member));
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#lonelyJoin = setTimeout(() => this.#join(), LONELY_JOIN_MS);
    this.#scheduleStatus(true);
  }

  /**
   * One timer at a time. The wait is a share of the interval for the member
   * count: a uniform share of it for the first status, so that a fleet
   * started together (a restart after an upgrade) spreads its first statuses
   * over the whole interval instead of sending them all one interval after
   * start; then about one interval (±10%) after each. When the timer fires
   * the count may have grown: if the interval for it ends later, the status
   * waits for that instead (an agent starts knowing no member and learns a
   * thousand within seconds).
   */
  #scheduleStatus(first = false): void {
    const interval = this.#init.statusIntervalMs ?? STATUS_INTERVAL_DEFAULT_MS;
    if (interval <= 0 || !this.#running) return;
    const random = (this.#init.random ?? Math.random)();
    // Time is counted in the timers' own waits, so fake timers in tests need no fake clock.
    let waited = 0;
    const wait = () => {
      // This agent and the others it knows of.
      const members = this.#members.size + 1;
      const due = first
        ? Math.max(1, random * statusDelayMs(interval, members, 0.5))
        : statusDelayMs(interval, members, random);
      if (due > waited) {
        this.#statusTimer = setTimeout(wait, due - waited);
        waited = due;
        return;
      }
      this.#sendStatus();
    };
    wait();
  }

  /** A status now; the next one an interval from it. */
  #sendStatus(): void {
    clearTimeout(this.#statusTimer);
    this.#announce(STATUS_TOPIC, 2, "is up");
    this.#scheduleStatus();
  }

  /**
   * The facts this agent announces changed (the topics it follows): a
   * status tells the members soon, so followers of a topic taken up on the
   * fly find this agent (lib/connect/topic_peers.ts). The regular statuses
   * count from it. Nothing before the join, which carries the facts anyway,
   * nor with statuses off.
   */
  factsChanged(): void {
    const interval = this.#init.statusIntervalMs ?? STATUS_INTERVAL_DEFAULT_MS;
    if (interval <= 0 || !this.#running || !this.#joined || this.#changedTimer !== undefined) return;
    const gap = Math.min(CHANGED_GAP_MS, interval);
    const wait = Math.max(CHANGED_DELAY_MS, this.#announcedAt + gap - this.#now());
    this.#changedTimer = setTimeout(() => {
      this.#changedTimer = undefined;
      this.#sendStatus();
    }, wait);
  }

  /** Says goodbye (when it has joined) and releases every timer. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#lonelyJoin);
    clearTimeout(this.#statusTimer);
    clearTimeout(this.#changedTimer);
    this.#changedTimer = undefined;
    for (const member of this.#members.values()) clearTimeout(member.timer);
    this.#members.clear();
    if (!this.#joined) return;
    const facts = this.#init.facts();
    const leave = this.#init.publish({
      topic: LEAVE_TOPIC,
      title: `${facts.host} left`,
      data: { peer: facts.peer, host: facts.host, reason: "stopped" },
    });
    const sent = new AbortController();
    try {
      await Promise.race([leave, delay(LEAVE_SEND_MS, sent.signal)]);
    } catch (error) {
      log.warn("Could not announce this agent's leave: {error}", { error: (error as Error).message });
    } finally {
      sent.abort();
    }
  }

  /** A peer subscribed to the membership topics: someone to tell that this agent is here. */
  peerSubscribed(): void {
    if (this.#running && !this.#joined) this.#join();
  }

  peerConnected(peer: string): void {
    const member = this.#members.get(peer);
    if (member?.timer !== undefined) {
      clearTimeout(member.timer);
      member.timer = undefined;
    }
  }

  peerDisconnected(peer: string): void {
    const member = this.#members.get(peer);
    if (!this.#running || !member || member.timer !== undefined) return;
    member.timer = setTimeout(() => this.#suspect(peer), this.#init.leaveAfterMs ?? LEAVE_AFTER_DEFAULT_MS);
  }

  /** Every membership event this agent accepts or publishes, in store order. */
  observe(event: HarkEvent): void {
    const facts = event.data as MemberFacts;
    if (facts.peer === this.#init.self) return;
    if (event.topic === LEAVE_TOPIC) {
      clearTimeout(this.#members.get(facts.peer)?.timer);
      this.#members.delete(facts.peer);
      return;
    }
    const member = this.#members.get(facts.peer);
    // The signer's host as this agent judged it (`name?` when the name is another's).
    const host = event.source.peer === facts.peer ? event.source.host : facts.host;
    const peers = typeof facts.peers === "number" ? facts.peers : undefined;
    const topics = stringsIn(facts.topics, MAX_TOPICS_HEARD);
    const addresses = stringsIn(facts.addresses, MAX_ADDRESSES_HEARD);
    if (member) {
      Object.assign(member, {
        host,
        peers: peers ?? member.peers,
        topics: topics ?? member.topics,
        addresses: addresses ?? member.addresses,
      });
    } else this.#members.set(facts.peer, { host, peers, topics, addresses });
    // A member heard from while disconnected from this agent is alive elsewhere.
    if (member?.timer !== undefined && !this.#init.connected(facts.peer)) {
      clearTimeout(member.timer);
      member.timer = undefined;
      this.peerDisconnected(facts.peer);
    }
  }

  #join(): void {
    if (this.#joined || !this.#running) return;
    this.#joined = true;
    clearTimeout(this.#lonelyJoin);
    this.#announce(JOIN_TOPIC, 3, "joined");
  }

  #announce(topic: string, priority: number, verb: string): void {
    this.#announcedAt = this.#now();
    const facts = this.#init.facts();
    this.#init.publish({ topic, title: `${facts.host} ${verb}`, priority, data: facts }).catch((error) => {
      log.warn("Could not publish {topic}: {error}", { topic, error: (error as Error).message });
    });
  }

  /** `peer` has been gone `leave_after`: report it, unless an agent ranked before this one does. */
  #suspect(peer: string): void {
    const member = this.#members.get(peer);
    if (!member || !this.#running) return;
    member.timer = undefined;
    if (this.#init.connected(peer)) return;
    const rank = this.#connectedMembers().filter((other) => other !== peer && other < this.#init.self).length;
    const report = () => {
      const current = this.#members.get(peer);
      if (!this.#running || current !== member || this.#init.connected(peer)) return;
      this.#members.delete(peer);
      this.#init.publish({
        topic: LEAVE_TOPIC,
        title: `${member.host} is unreachable`,
        data: { peer, host: member.host, reason: "unreachable" },
      }).catch((error) => {
        log.warn("Could not report {peer} gone: {error}", { peer, error: (error as Error).message });
      });
    };
    if (rank === 0) return report();
    member.timer = setTimeout(report, rank * (this.#init.staggerMs ?? 1_000));
  }
}

/** The strings of a list from an event's data (at most `max`, each short), or undefined when it is no list. */
function stringsIn(value: unknown, max: number): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter((item): item is string => typeof item === "string" && item.length <= MAX_FACT_CHARS).slice(
    0,
    max,
  );
}
