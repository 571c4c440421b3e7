/**
 * An agent: the mesh, the router with its sinks, and the control socket,
 * wired together. `start` and `stop` are idempotent; `stop` releases every
 * socket, timer and file so the process can exit by itself.
 */

import { getLogger } from "@logtape/logtape";
import type { HarkConfig } from "./config/config.ts";
import { createEvent, DEFAULT_TOPIC, type EventDraft, type HarkEvent, isReservedTopic } from "./event/event.ts";
import {
  checkMembershipEvent,
  JOIN_TOPIC,
  MAX_TOPICS_HEARD,
  type MemberFacts,
  Membership,
  MEMBERSHIP_TOPICS,
  STATUS_TOPIC,
} from "./mesh/membership.ts";
import { TopicPeers } from "./connect/topic_peers.ts";
import { HostNames } from "./mesh/host_names.ts";
import { Catalog } from "./event/catalog.ts";
import { peerIdFromPrivateKey } from "./mesh/libp2p.ts";
import { Mesh } from "./mesh/mesh.ts";
import { Router } from "./router.ts";
import { createSinks } from "../sinks/mod.ts";
import { ControlServer, refuseIfRunning } from "./control/server.ts";
import { AgentControl, type Published } from "./control/handlers.ts";
import { Followers } from "./followers.ts";
import { FollowedTopics } from "./follow/followed_topics.ts";
import { HarkError } from "./errors.ts";
import { loadIdentity } from "./mesh/identity.ts";
import { prepareStateDir } from "./store/state_dir.ts";
import { encodeToken, loadNetwork, mdnsServiceTag, type Network, newNetwork, saveNetwork } from "./mesh/network.ts";
import { PeerBook } from "./connect/peer_book.ts";
import { type Arrival, EventStore, type HistoryQuery } from "./store/store.ts";
import { HistoryBudget } from "./store/history_budget.ts";
import { RecentIds } from "./store/recent_ids.ts";
import { HistoryPages } from "./store/history_pages.ts";
import { HistoryResponder } from "./history/responder.ts";
import { CatchUp } from "./history/catch_up.ts";
import { serveHas } from "./history/has.ts";
import { compileFilter, compileTopicPattern } from "./filter.ts";
import { createSource, type Source } from "./sources/mod.ts";
import type { AgentView, Feed, Since, StoredFilter } from "./sources/source.ts";
import { monotonicUlid } from "./event/ulid.ts";
import { VERSION } from "./version.ts";
import { settleTarget } from "./notifications/target.ts";
import { Schedule } from "./notifications/schedule.ts";
import { renderMetrics } from "./metrics.ts";
import { uncaughtCounts } from "./uncaught.ts";
import { Escalator } from "./notifications/escalator.ts";
import { scopesInUse } from "./notifications/sink_memory.ts";
import { ESCALATION_TOPIC } from "./notifications/escalation_marker.ts";

const log = getLogger(["hark", "agent"]);
/** Longest a send waits for the rate limit before it is refused. */
const SEND_WAIT_MS = 10_000;
/** Longest the first subscriber of a topic just followed waits for peers' history of it. */
const FIRST_CATCH_UP_MS = 3000;
/** Addresses a join or status names, so followers of a topic can dial this agent (public ones first). */
const MAX_ANNOUNCED_ADDRESSES = 8;

export interface AgentInit {
  config: HarkConfig;
  stateDir: string;
  /** How long `stop` waits for sinks to drain. @default 1000 */
  drainMs?: number;
  /** How long a ping may go unanswered before a link counts as dead (MeshInit). @default 10000 */
  linkTimeoutMs?: number;
}

export class Agent {
  #init: AgentInit;
  #mesh?: Mesh;
  /** Resolves once the mesh is up: plugins may act on backlog before then, and wait here to publish. */
  #meshUp = meshUpSignal();
  #book?: PeerBook;
  #router?: Router;
  #control?: ControlServer;
  #network?: Network;
  #store?: EventStore;
  #responder?: HistoryResponder;
  #catchUp?: CatchUp;
  /** Scheduled events held until due. */
  #schedule?: Schedule;
  #sources: Source[] = [];
  #membership?: Membership;
  #topicPeers?: TopicPeers;
  #escalator?: Escalator;
  #catalog?: Catalog;
  #hostNames?: HostNames;
  #nextId = monotonicUlid();
  #followers = new Followers();
  /** What every reader of stored events together may hold: ntfy subscribers, history and tail. */
  #historyBudget = new HistoryBudget();
  /** What de-duplicates the events the store does not keep (`cache: false`). */
  #unstored = new RecentIds();
  /** agent.topics and the membership topics: followed whatever happens. */
  readonly #fixedTopics: ReadonlySet<string>;
  /** Every topic subscribed to now: the fixed ones and those followed on the fly. */
  #topics: Set<string>;
  #followed?: FollowedTopics;
  #startedAt = 0;
  #state: "stopped" | "starting" | "running" | "stopping" = "stopped";

  constructor(init: AgentInit) {
    this.#init = init;
    // Every agent follows the membership topics and escalation markers, whatever agent.topics says.
    this.#fixedTopics = new Set([...init.config.agent.topics, ...MEMBERSHIP_TOPICS, ESCALATION_TOPIC]);
    this.#topics = new Set(this.#fixedTopics);
  }

  get peerId(): string {
    return this.#requireMesh().peerId;
  }

  get addresses(): string[] {
    return this.#requireMesh().addresses();
  }

  async start(): Promise<void> {
    if (this.#state !== "stopped") return;
    this.#state = "starting";
    try {
      await this.#start();
      this.#state = "running";
    } catch (error) {
      await this.#release();
      this.#state = "stopped";
      throw error;
    }
  }

  async #start(): Promise<void> {
    const { config, stateDir } = this.#init;
    this.#meshUp = meshUpSignal();
    await prepareStateDir(stateDir);
    // Before binding any port: a second agent on this state dir is the likelier mistake.
    await refuseIfRunning(stateDir);
    const privateKey = await loadIdentity(stateDir);
    // Half an event at most: the catalog rides in join and status events with the other facts.
    const catalog = new Catalog(config.topic, {
      self: peerIdFromPrivateKey(privateKey).toString(),
      maxAnnouncementBytes: Math.floor(config.agent.max_event_bytes / 2),
    });
    this.#catalog = catalog;
    let network = await loadNetwork(stateDir);
    const created = network === undefined;
    if (!network) {
      // Private from the first start: an agent never runs on an open network.
      network = newNetwork(config.network.name);
      await saveNetwork(stateDir, network);
    }
    this.#network = network;
    const store = EventStore.open(stateDir, {
      retentionMs: config.store.retention_ms,
      maxEvents: config.store.max_events,
      maxEventsPerPublisher: config.store.max_events_per_publisher,
      // Every agent's status reaches every store; at 300 agents keeping each one fills the store within days.
      latestOnly: [STATUS_TOPIC],
    });
    this.#store = store;
    this.#topics = new Set(this.#fixedTopics);
    this.#followed = this.#followTopics(store);
    this.#hostNames = new HostNames({
      book: store,
      self: { peer: peerIdFromPrivateKey(privateKey).toString(), host: config.agent.host },
    });
    // What peers announced before this agent stopped, until they announce again.
    for (const stored of store.query({ topics: [...MEMBERSHIP_TOPICS], limit: 2_000 })) catalog.observe(stored.event);
    const router = new Router({ store });
    this.#router = router;
    // What a sink no longer in the config kept for itself would otherwise stay forever.
    const forgotten = store.sinkMemory.keepOnly(scopesInUse(config.sinks));
    if (forgotten > 0) {
      log.info("Forgot {count} pending repeats and coalesced popups of sinks no longer configured", {
        count: forgotten,
      });
    }
    // Plugins may act on backlog before the mesh is up; their sends wait for it.
    const context = {
      publish: async (draft: EventDraft) => (await this.#publish(await this.#meshUp.promise, draft)).event,
      popups: store.popups,
      memory: store.sinkMemory,
      isOpen: (event: HarkEvent) => !store.notifications.superseded(event),
    };
    for (const [index, sink] of config.sinks.entries()) {
      // Without topics, agent.topics: a topic followed for a phone's subscription does
      // not pop up on the desktop. A plugin sees hark.* too; it picks its own in its Worker.
      const topics = sink.topics ??
        (sink.type === "plugin" ? [...config.agent.topics, "hark.*"] : [...config.agent.topics]);
      const created = await createSinks(sink, context);
      if (created.length === 0) {
        log.warn("Plugin directory {dir} holds no .ts, .js or .mjs file; add one and restart the agent", {
          dir: sink.plugins,
        });
      }
      for (const made of created) {
        // The cursor key must survive restarts: position and name in the config.
        router.add(
          made,
          {
            topics,
            minPriority: sink.min_priority,
            backfillMaxAgeMs: sink.max_age,
            when: sink.when === undefined ? undefined : compileFilter(sink.when),
          },
          sink.queue,
          `${index}:${made.name}`,
        );
      }
      for (const pattern of sink.topics ?? []) {
        const matching = compileTopicPattern(pattern);
        if (![...this.#topics].some(matching)) {
          log.warn("Sink {sink} lists topic {topic}, which matches none of agent.topics; it will get nothing there", {
            sink: sink.type,
            topic: pattern,
          });
        }
      }
    }
    router.start();
    // After the router: what fell due while the agent was down goes to the sinks at once.
    this.#schedule = new Schedule({
      store,
      // The publisher holds its own scheduled events too, for peers that catch up; its sinks get them only on its topics.
      deliver: ({ event, seq, backfill }) =>
        this.#topics.has(event.topic) && this.#deliverLocally(event, seq, backfill),
    });
    this.#schedule.start();
    const book = await PeerBook.load(stateDir, await mdnsServiceTag(network));
    this.#book = book;
    const mesh = new Mesh({
      privateKey,
      network,
      publishers: new Map(
        Object.entries(config.topic).filter(([, rules]) => rules.publishers)
          .map(([topic, rules]) => [topic, new Set(rules.publishers)]),
      ),
      rate: { rate: config.network.publisher_rate, burst: config.network.publisher_burst },
      listen: config.network.listen,
      peers: [...new Set([...config.network.peers, ...network.peers])],
      book,
      mdns: config.network.mdns,
      relay: config.network.relay,
      linkTimeoutMs: this.#init.linkTimeoutMs,
      maxConnections: config.network.max_connections === 0 ? Infinity : config.network.max_connections,
      reportedPeers: (peer) => this.#membership?.reportedPeers(peer),
      keep: (peer) => this.#topicPeers?.isKept(peer) ?? false,
      topics: [...this.#topics],
      limits: { maxEventBytes: config.agent.max_event_bytes },
      check: (event) => checkMembershipEvent(event) ?? this.#membership?.checkReport(event) ?? catalog.check(event),
      host: config.agent.host,
      version: VERSION,
      onEvent: (event, fingerprint, arrival) => {
        // Evidence its signer is up, against a report that it is gone.
        this.#membership?.heardFrom(event.source.peer);
        this.#announceHost(event);
        this.#receive(event, fingerprint, arrival);
      },
      onGap: (peer) => this.#catchUp?.request(peer),
      lookup: (publisher, id) => store.fingerprint(publisher, id),
      storedNear: (publisher, fromMs, toMs) => store.countByPublisher(publisher, fromMs, toMs),
      // Served from the first connection on, so every peer's identify lists it.
      beforeStart: async (node) => {
        this.#responder = new HistoryResponder({ node, store, privateKey });
        await this.#responder.start();
        await serveHas(node, store);
      },
    });
    this.#mesh = mesh;
    await mesh.start();
    this.#meshUp.resolve(mesh);
    this.#catchUp = new CatchUp({
      mesh,
      store,
      topics: [...this.#fixedTopics],
      followed: () => this.#followed?.topics() ?? [],
      // Catch-up is a replay, which the publisher of a `cache: false` event asked to be spared.
      onEvent: (event, fingerprint, record) =>
        event.cache !== false && this.#receive(event, fingerprint, {
          data: record.data,
          signed: { seqno: record.seqno, signature: record.signature },
          // Published before this agent's store existed: history, not news.
          backfill: Date.parse(event.time) < store.createdAt,
        }),
      // A past-due version caught up waits for the rest of the session: its replacement may come later in it.
      onSession: () => {
        const release = this.#schedule?.hold();
        return () => {
          release?.();
          this.#schedule?.caughtUp();
        };
      },
    });
    this.#catchUp.start();
    this.#control = new ControlServer({
      stateDir,
      maxRequestBytes: 4 * config.agent.max_event_bytes + 16 * 1024,
      handlers: new AgentControl({
        mesh,
        store,
        catalog,
        followers: this.#followers,
        historyBudget: this.#historyBudget,
        agentTopics: config.agent.topics,
        subscribed: this.#topics,
        publish: (draft) => this.#publish(mesh, draft),
        status: () => this.#status(mesh),
      }),
    });
    await this.#control.start();
    for (const source of config.sources) {
      const created = await createSource(source, {
        publish: async (draft) => (await this.#publish(mesh, draft)).event,
        feed: this.#feed(),
        metrics: () => this.#metrics(mesh),
        view: () => this.#view(mesh),
        host: config.agent.host,
        maxEventBytes: config.agent.max_event_bytes,
      });
      // Kept before start: a source that fails half-way is still stopped on the way out.
      this.#sources.push(created);
      await created.start();
    }
    this.#startedAt = Date.now();
    this.#startMembership(mesh);
    this.#startEscalator(mesh, store);
    log.info("hark {version} running as {peer} on {addresses}, topics {topics}", {
      version: VERSION,
      peer: mesh.peerId,
      addresses: mesh.listenAddresses().join(" "),
      topics: config.agent.topics.join(","),
    });
    if (created) {
      log.info(
        "Created private network {name}. To add another machine, run there:\n\n  hark network join {token}\n\n(`hark network show` prints this again. The token holds the network key: share it only with members. No `hark` command there? Install a release, or run `deno task install` in a source checkout.)",
        { name: network.name, token: encodeToken(network, mesh.addresses()) },
      );
    } else {
      log.info("Member of network {name}", { name: network.name });
    }
  }

  async stop(): Promise<void> {
    if (this.#state !== "running") return;
    this.#state = "stopping";
    await this.#release();
    this.#state = "stopped";
    log.info("Stopped");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Resolves when every sink has delivered what it was given. */
  async idle(): Promise<void> {
    await this.#router?.idle();
  }

  async #release(): Promise<void> {
    // Sources first: nothing new is published while the rest shuts down.
    for (const source of this.#sources) await source.stop().catch(() => {});
    this.#sources = [];
    this.#escalator?.stop();
    this.#escalator = undefined;
    this.#topicPeers?.stop();
    this.#topicPeers = undefined;
    // Then the goodbye, while the mesh can still carry it.
    await this.#membership?.stop();
    this.#membership = undefined;
    await this.#control?.stop();
    this.#control = undefined;
    this.#followers.clear();
    this.#followed?.stop();
    this.#followed = undefined;
    await this.#catchUp?.stop();
    this.#catchUp = undefined;
    await this.#responder?.stop();
    this.#responder = undefined;
    await this.#mesh?.stop();
    this.#mesh = undefined;
    await this.#book?.close();
    this.#book = undefined;
    this.#schedule?.stop();
    this.#schedule = undefined;
    await this.#router?.stop(AbortSignal.timeout(this.#init.drainMs ?? 1000));
    this.#router = undefined;
    this.#store?.close();
    this.#store = undefined;
    this.#catalog = undefined;
    this.#hostNames = undefined;
    this.#meshUp.reject(new HarkError("the agent is not running"));
  }

  #requireMesh(): Mesh {
    if (!this.#mesh) throw new HarkError("the agent is not running");
    return this.#mesh;
  }

  /**
   * The topics the http source's subscribers make this agent follow, as
   * they were when it stopped: subscribed to on the mesh from the start.
   */
  #followTopics(store: EventStore): FollowedTopics {
    const followed = new FollowedTopics({
      store,
      keepMs: this.#init.config.store.retention_ms,
      fixed: this.#fixedTopics,
      onFollow: (topic) => {
        this.#topics.add(topic);
        this.#mesh?.follow(topic);
        this.#membership?.factsChanged();
        log.info("Following topic {topic} for subscribers", { topic });
      },
      onUnfollow: (topic) => {
        this.#topics.delete(topic);
        this.#mesh?.unfollow(topic);
        this.#membership?.factsChanged();
        log.info("No longer following topic {topic}: unused for the store's retention", { topic });
      },
    });
    for (const topic of followed.restore()) this.#topics.add(topic);
    return followed;
  }

  /** An event from another agent, validated by the mesh or by catch-up. */
  #receive(event: HarkEvent, fingerprint: number, arrival: Arrival): void {
    // Before it is stored: sinks, history and filters see a host name that is not its signer's as such.
    event = this.#hostNames?.judge(event) ?? event;
    if (event.cache === false) {
      // Live only, by its publisher's wish: never stored, so sinks get it without a cursor, once.
      if (this.#unstored.add(event.id)) this.#deliverLocally(event, undefined, arrival.backfill);
      return;
    }
    const seq = this.#store?.append(event, fingerprint, arrival);
    // Already stored: a copy of an event this agent had before it restarted.
    if (seq === undefined) return;
    // Scheduled: stored now, delivered when due.
    if (event.due !== undefined) return this.#schedule?.held(event);
    this.#store!.afterCommit(() => this.#deliverLocally(event, seq, arrival.backfill));
  }

  /**
   * A live join or status binds its signer's host name, when free. Only
   * live ones: an old announcement caught up later must not undo a rename.
   */
  #announceHost(event: HarkEvent): void {
    if (event.topic !== JOIN_TOPIC && event.topic !== STATUS_TOPIC) return;
    // checkMembershipEvent lets these through only when they are about their signer.
    const host = (event.data as Partial<MemberFacts>).host;
    if (typeof host === "string" && host !== "") this.#hostNames?.announce(event.source.peer, host);
  }

  /** `seq` is the event's number in the store; undefined for one the store does not keep. */
  #deliverLocally(event: HarkEvent, seq: number | undefined, backfill = false): void {
    this.#router?.route(event, seq, backfill);
    const reserved = isReservedTopic(event.topic);
    if (reserved) {
      this.#membership?.observe(event);
      if (event.topic === JOIN_TOPIC || event.topic === STATUS_TOPIC) {
        this.#topicPeers?.heard((event.data as Partial<MemberFacts>).topics);
      }
      this.#catalog?.observe(event);
    }
    this.#escalator?.observe(event, seq);
    // Followers see news; history from before this agent joined is for `hark history`.
    if (!backfill) this.#followers.deliver(event, reserved);
  }

  /** Join, status and leave events about this agent, and leaves of peers that vanish. */
  #startMembership(mesh: Mesh): void {
    const { config } = this.#init;
    const membership = new Membership({
      self: mesh.peerId,
      publish: (draft) => this.#publish(mesh, draft, { reserved: true }),
      facts: () => ({
        peer: mesh.peerId,
        host: config.agent.host,
        version: VERSION,
        // Those taken up for subscribers too, so their other followers find this agent.
        topics: mesh.eventTopics.slice(0, MAX_TOPICS_HEARD),
        uptime_s: Math.round((Date.now() - this.#startedAt) / 1000),
        peers: mesh.peerCount,
        addresses: mesh.addresses().slice(0, MAX_ANNOUNCED_ADDRESSES),
        catalog: this.#catalog?.announcement(),
      }),
      connected: (peer) => mesh.isConnected(peer),
      connectedPeers: () => mesh.connectedPeers,
      statusIntervalMs: config.membership.status_interval_ms,
      leaveAfterMs: config.membership.leave_after_ms,
    });
    mesh.onPeerChange({
      connected: (peer) => membership.peerConnected(peer),
      disconnected: (peer) => membership.peerDisconnected(peer),
      subscribed: (_peer, topic) => {
        if (MEMBERSHIP_TOPICS.includes(topic)) membership.peerSubscribed();
      },
    });
    this.#membership = membership;
    membership.start();
    this.#topicPeers = new TopicPeers({
      self: mesh.peerId,
      topics: () => mesh.eventTopics,
      followersOf: (topic) => membership.followersOf(topic),
      follows: (peer, topic) => membership.follows(peer, topic),
      subscribers: (topic) => mesh.subscribers(topic).map(String),
      connectedPeers: () => mesh.connectedPeers,
      dial: (peer, addresses, signal) => mesh.dialFollower(peer, addresses, signal),
      parted: (peer) => mesh.parted(peer),
    });
    this.#topicPeers.start();
  }

  /** `[[escalate]]` rules: timers from the store, then from every event delivered here. */
  #startEscalator(mesh: Mesh, store: EventStore): void {
    const { config } = this.#init;
    if (config.escalate.length === 0) return;
    const escalator = new Escalator({
      rules: config.escalate,
      self: mesh.peerId,
      host: config.agent.host,
      rankedBefore: () => this.#membership?.rankedBefore() ?? 0,
      isOpen: (event) => !store.notifications.superseded(event),
      load: (seq) => store.at([seq])[0]?.event,
      publish: async (draft, reserved) => (await this.#publish(mesh, draft, { reserved })).event,
    });
    this.#escalator = escalator;
    // Twice the longest deadline back: events still due, and markers of those done.
    const since = Date.now() - 2 * escalator.horizonMs;
    escalator.start(store.query({ sinceTime: since, limit: 20_000 }));
  }

  /**
   * Publishes a draft as this agent: `hark send` and every source come
   * through here, so each keeps the same publisher rules and rate limit.
   */
  async #publish(
    mesh: Mesh,
    draft: EventDraft,
    options: { reserved?: boolean } = {},
  ): Promise<Published> {
    const { config } = this.#init;
    // `hark ack KEY|ID`: the topic and sequence of the notification it names.
    draft = settleTarget(draft, this.#store?.notifications);
    const topic = draft.topic ?? DEFAULT_TOPIC;
    if (isReservedTopic(topic) && !options.reserved) {
      throw new HarkError(
        `topics starting with "hark." are reserved for the agents' own events; publish on another topic`,
      );
    }
    if (!mesh.mayPublish(topic)) {
      throw new HarkError(
        `this agent (${mesh.peerId}) may not publish on "${topic}": it is not in topic.${topic}.publishers`,
      );
    }
    const build = () =>
      createEvent(
        draft,
        { id: this.#nextId(), now: Date.now(), host: config.agent.host, peer: mesh.peerId },
        { maxEventBytes: config.agent.max_event_bytes },
      );
    // Before the rate limit: a send that can never succeed (too large, too
    // deep, off its topic's schema) neither waits for nor spends a token.
    // The event model's checks come first: they bound what the schema walks.
    build();
    this.#catalog?.checkDraft(topic, draft.data);
    const { event, recipients, fingerprint, data } = await mesh.publishAsSelf(build, SEND_WAIT_MS);
    // Like Serf's user events, the sender's own sinks see what it publishes.
    const local = this.#topics.has(event.topic);
    if (event.cache === false) {
      if (local && this.#unstored.add(event.id)) this.#deliverLocally(event, undefined);
      return { event, recipients, local };
    }
    const seq = this.#store?.append(event, fingerprint, { data });
    if (seq !== undefined && event.due !== undefined) this.#schedule?.held(event);
    else if (local && seq !== undefined) this.#store!.afterCommit(() => this.#deliverLocally(event, seq));
    return { event, recipients, local };
  }

  /** What sources that serve subscribers read: the store, then live events. */
  #feed(): Feed {
    return {
      topics: this.#topics,
      retentionMs: this.#init.config.store.retention_ms,
      follow: async (topics, max) => {
        const followed = this.#followed;
        if (!followed) throw new HarkError("the agent is not running");
        // A topic new to this agent: its first subscriber finds what peers hold of it.
        if (followed.follow(topics, max).length > 0) await this.#catchUp?.refresh(FIRST_CATCH_UP_MS);
      },
      read: (topics, since, push, filter) => {
        let stop = () => {};
        // A live subscriber keeps the topics it reads followed while it stays.
        const release = push ? this.#followed?.hold(topics) ?? (() => {}) : () => {};
        const follow = push && (() => stop = this.#followers.add({ topics, push }));
        try {
          const pages = this.#storedSince(topics, since, follow, filter);
          return {
            pages,
            stop: () => {
              stop();
              release();
            },
          };
        } catch (error) {
          release();
          throw error;
        }
      },
    };
  }

  #storedSince(
    topics: ReadonlySet<string>,
    since: Since,
    onCaughtUp?: () => void,
    filter: StoredFilter = {},
  ): HistoryPages {
    const store = this.#store;
    if (!store) throw new HarkError("the agent is not running");
    const query: HistoryQuery = { topics: [...topics], scheduled: filter.scheduled ?? false };
    if (since.kind === "time") query.sinceTime = since.ms;
    if (since.kind === "latest") query.limit = 1;
    // An id the store no longer (or never) held gets everything stored, as ntfy does: a phone whose
    // last id has aged out, or that last read another server, catches up instead of failing for good.
    if (since.kind === "id") query.afterSeq = store.seqOf(since.id);
    // Nothing stored is wanted: start after the newest event, so the first read finds none and follows.
    if (since.kind === "none" || topics.size === 0) query.afterSeq = store.lastSeq();
    if (filter.text !== undefined) query.text = filter.text;
    if (filter.limit !== undefined) query.limit = Math.min(query.limit ?? Infinity, filter.limit);
    // An id this agent does not hold has nothing stored before it that a reader could page back to.
    if (filter.before !== undefined) query.beforeSeq = store.seqOf(filter.before) ?? 0;
    return new HistoryPages({ store, budget: this.#historyBudget, query, onCaughtUp });
  }

  /** The web page's view of this agent. */
  async #view(mesh: Mesh): Promise<AgentView> {
    const { config } = this.#init;
    const peers = await mesh.peers();
    return {
      host: config.agent.host,
      peer: mesh.peerId,
      network: this.#network?.name ?? null,
      topics: config.agent.topics,
      peers: peers.map(({ peer, host, connection, latencyMs }) => ({ peer, host, connection, latencyMs })),
      sinks: (this.#router?.health() ?? []).map(({ name, state, delivered, queued, failed, last_error }) => ({
        name,
        state,
        delivered,
        queued,
        failed,
        last_error,
      })),
    };
  }

  /** `GET /metrics` on the http source: the counters `hark status` shows, for Prometheus. */
  #metrics(mesh: Mesh): string {
    return renderMetrics({
      events: mesh.counters,
      catchUp: this.#catchUp?.counters,
      sinks: this.#router?.health() ?? [],
      peers: mesh.peerCount,
      uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000),
      residentBytes: Deno.memoryUsage().rss,
      sources: this.#sources.map((source) => ({ name: source.name, ...source.stats() })),
      uncaught: uncaughtCounts(),
    });
  }

  /** Events held until due, for `hark status`: how many, and the soonest few. */
  #scheduled() {
    const pending = this.#store?.pending(3) ?? { events: [], count: 0 };
    return {
      pending: pending.count,
      next: pending.events.map((event) => ({
        due: event.due!,
        id: event.id,
        topic: event.topic,
        sequence: event.sequence,
        text: event.title || event.body,
      })),
    };
  }

  #status(mesh: Mesh) {
    const { config, stateDir } = this.#init;
    return {
      version: VERSION,
      network: this.#network?.name ?? null,
      peer: mesh.peerId,
      host: config.agent.host,
      state_dir: stateDir,
      listen: mesh.listenAddresses(),
      addresses: mesh.addresses(),
      relay: config.network.relay,
      reachability: mesh.reachability,
      remembered_peers: this.#book?.peers.length ?? 0,
      connections: mesh.connections,
      key_mismatches: mesh.keyMismatches,
      topics: config.agent.topics,
      followed: this.#followed?.list() ?? [],
      uptime_s: Math.round((Date.now() - this.#startedAt) / 1000),
      memory: memoryMegabytes(),
      uncaught: uncaughtCounts(),
      members: this.#membership?.members ?? [],
      escalations: this.#escalator?.stats(),
      events: mesh.counters,
      history: this.#catchUp?.counters,
      scheduled: this.#scheduled(),
      sinks: this.#router?.health() ?? [],
      sources: this.#sources.map((source) => ({ name: source.name, ...source.stats() })),
    };
  }
}

/** A mesh-is-up signal; rejected when the agent stops, which nobody need be waiting for. */
function meshUpSignal(): PromiseWithResolvers<Mesh> {
  const signal = Promise.withResolvers<Mesh>();
  signal.promise.catch(() => {});
  return signal;
}

/** The agent's memory in MB: resident in total, and the JavaScript heap within it. */
function memoryMegabytes(): { rss_mb: number; heap_mb: number; external_mb: number } {
  const { rss, heapTotal, external } = Deno.memoryUsage();
  const mb = (bytes: number) => Math.round(bytes / 104857.6) / 10;
  return { rss_mb: mb(rss), heap_mb: mb(heapTotal), external_mb: mb(external) };
}
