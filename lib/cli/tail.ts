/** `hark tail`: stream events as the agent receives them. */

import type { Command } from "./command.ts";
import { print, printError } from "./command.ts";
import { ControlClient } from "../control/client.ts";
import { checkTopic, type HarkEvent } from "../event/event.ts";
import { formatEventLine } from "../../sinks/format.ts";
import { UsageError } from "../errors.ts";
import { parseSince } from "../store/since.ts";
import { jsonForTerminal } from "../util/controls.ts";

export const tailCommand: Command = {
  name: "tail",
  usage: "hark tail [-t TOPIC]... [--since DURATION|ID|RFC3339] [--when FILTER] [--json]",
  help: `Prints each event the agent receives or sends, until interrupted.

Options:
  -t, --topic T   only this topic (repeatable); default: every subscribed topic
      --since S   first print stored events after S (10m, an event id, or an
                  RFC 3339 time), then follow
      --when F    only events that match this filter (as a sink's \`when\`)
      --json      one JSON object per line

Examples:
  hark tail
  hark tail -t builds -t deploys
  hark tail --since 1h -t alerts        # the last hour's alerts, then new ones
  hark tail --when 'priority >= 4'
  hark tail --json | jq -r 'select(.priority >= 4) | .title'`,
  options: {
    topic: { type: "string", short: "t", multiple: true },
    since: { type: "string" },
    when: { type: "string" },
  },
  async run({ global, values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`tail takes no arguments, got "${positionals[0]}"`);
    const topics: string[] = values.topic ?? [];
    topics.forEach(checkTopic);
    await using client = await ControlClient.connect(global.stateDir);
    const since = values.since === undefined ? {} : parseSince(values.since);
    const when = values.when === undefined ? {} : { when: values.when };
    const reply = await client.request({ op: "tail", topics, ...since, ...when });
    if (typeof reply.warning === "string") printError(`hark: warning: ${reply.warning}`);
    for await (const line of client.stream()) {
      const event = line.event as HarkEvent | undefined;
      if (!event) continue;
      print(global.json ? jsonForTerminal(event) : formatEventLine(event));
    }
    printError("hark: the agent stopped");
    return 1;
  },
};
