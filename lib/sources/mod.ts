/**
 * Sources: where events start without any network programming. A named
 * pipe (`echo "title|body" > /tmp/alert`), an ntfy-compatible HTTP
 * listener, and log files followed like `tail -F`. Each publishes through
 * the agent, under the same rules and rate limit as `hark send`.
 */

import type { SourceConfig } from "../config/config.ts";
import type { AgentView, Feed, Publish, Source } from "./source.ts";

export type { AgentView, Feed, Publish, Source };

export interface SourceContext {
  publish: Publish;
  /** Stored and live events, for the http source's subscribers. */
  feed: Feed;
  /** The agent's counters in Prometheus' text format, for `GET /metrics`. */
  metrics: () => string;
  /** Peers and sink health, for the web page. */
  view: () => Promise<AgentView>;
  /** This agent's host name, for `{host}` in watch rules. */
  host: string;
  maxEventBytes: number;
}

/** An HTTP body may hold a whole event's worth of text, and some headroom for JSON. */
const HTTP_BODY_BYTES = 64 * 1024;

/**
 * Makes the source a config entry describes; events without a topic get the entry's `topic`.
 * Each kind loads when a config uses it (the http source carries the ntfy server and the web
 * page), by a literal import that `deno compile` still embeds.
 */
export async function createSource(config: SourceConfig, context: SourceContext): Promise<Source> {
  const publish: Publish = config.topic
    ? (draft) => context.publish({ ...draft, topic: draft.topic ?? config.topic })
    : context.publish;
  switch (config.type) {
    case "fifo": {
      const { FifoSource } = await import("./fifo.ts");
      return new FifoSource({
        path: config.path!,
        mode: config.mode,
        owner: config.owner,
        group: config.group,
        // The fifo fills in a topic itself (DEFAULT_TOPIC unless told), so the
        // wrapper above never sees a draft without one: it must be told here.
        topic: config.topic,
        maxLineBytes: context.maxEventBytes,
        publish,
      });
    }
    case "http": {
      const { HttpSource } = await import("./http.ts");
      return new HttpSource({
        listen: config.listen,
        token: config.token,
        keepaliveMs: config.keepalive,
        follow: config.follow,
        followMax: config.follow_max,
        feed: context.feed,
        metrics: context.metrics,
        view: context.view,
        maxBodyBytes: Math.max(HTTP_BODY_BYTES, context.maxEventBytes),
        publish,
      });
    }
    case "watch": {
      const { WatchSource } = await import("./watch.ts");
      return new WatchSource({
        path: config.path!,
        rules: config.rules!,
        host: context.host,
        maxLineBytes: context.maxEventBytes,
        ratePerMinute: config.rate,
        publish,
      });
    }
  }
}
