/** `hark history`: events from the agent's store. */

import type { Command } from "./command.ts";
import { print } from "./command.ts";
import { ControlClient } from "../control/client.ts";
import { checkTopic, type HarkEvent } from "../event/event.ts";
import { UsageError } from "../errors.ts";
import { parseSince } from "../store/since.ts";
import { jsonForTerminal } from "../util/controls.ts";
import { historyLines } from "../notifications/history_view.ts";

export const historyCommand: Command = {
  name: "history",
  usage: "hark history [--since DURATION|ID|RFC3339] [-t TOPIC]... [--limit N] [--json]",
  help: `Prints stored events, oldest first. A notification updated with --sequence prints
once, as its latest version, with its earlier versions and who acknowledged or deleted
it (hark ack, hark delete) below; --json prints every event as it is.

Options:
      --since S    only events after S: a duration back from now (10m, 2h, 7d),
                   an event id, or an RFC 3339 time
  -t, --topic T    only this topic (repeatable)
      --limit N    only the newest N (default 100)
      --json       one JSON object per line

Examples:
  hark history --since 2h
  hark history -t builds --limit 20
  hark history --since 2026-11-21T00:00:00Z --json | jq -r .title
  hark history --since 01JDQ8ZC5V8Q0W3Z7M9N4T2B6K   # the events after this one`,
  options: {
    since: { type: "string" },
    topic: { type: "string", short: "t", multiple: true },
    limit: { type: "string" },
  },
  async run({ global, values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`history takes no arguments, got "${positionals[0]}"`);
    const topics: string[] = values.topic ?? [];
    topics.forEach(checkTopic);
    const limit = values.limit === undefined ? 100 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) {
      throw new UsageError(`--limit must be a whole number, not "${values.limit}"`);
    }
    const since = values.since === undefined ? {} : parseSince(values.since);
    await using client = await ControlClient.connect(global.stateDir);
    // JSON goes out a page at a time, as the agent sends it: a long history never sits whole in memory.
    // The text gathers the --limit events first, to print each notification once with its versions.
    const events: HarkEvent[] = [];
    for await (const page of client.requestPages({ op: "history", topics, limit, ...since })) {
      for (const event of page.events as HarkEvent[]) {
        if (global.json) print(jsonForTerminal(event));
        else events.push(event);
      }
    }
    for (const line of historyLines(events)) print(line);
    return 0;
  },
};
