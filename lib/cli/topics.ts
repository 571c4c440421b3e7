/** `hark topics`: the catalog, merged from this agent's config, its store and its peers' announcements. */

import type { Command } from "./command.ts";
import { print } from "./command.ts";
import { requestAgent } from "../control/client.ts";
import { noArguments, table } from "./info.ts";
import type { TopicListing } from "../event/catalog.ts";
import { jsonForTerminal } from "../util/controls.ts";

export const topicsCommand: Command = {
  name: "topics",
  usage: "hark topics [--json]",
  help: `Lists the topics this agent knows: those in its config, agent.topics, its store,
and the ones its peers announce, with description, schema, publishers and the
time of the last event.

SCHEMA        yes (from this agent's [topic.NAME]), peer (announced by a peer),
              or -; "disagree" when agents announce different versions
PUBLISHERS    the hosts whose events are in this agent's store
ANNOUNCED BY  the peers whose config describes the topic

Examples:
  hark topics
  hark topics --json | jq '.[] | select(.topic == "builds") | .schema'   # the schema hark send checks`,
  options: {},
  async run({ global, positionals }) {
    noArguments("topics", positionals);
    const topics = (await requestAgent(global.stateDir, { op: "topics" })).topics as TopicListing[];
    if (global.json) {
      print(jsonForTerminal(topics, 2));
    } else if (topics.length === 0) {
      print("No topics known.");
    } else {
      print(table([
        ["TOPIC", "DESCRIPTION", "SCHEMA", "PUBLISHERS", "LAST", "EVENTS", "ANNOUNCED BY"],
        ...topics.map((topic) => [
          topic.topic + (topic.subscribed ? "" : " (not subscribed)"),
          shorten(topic.description ?? "-", 40),
          schemaCell(topic),
          few(topic.publishers.map((publisher) => publisher.host ?? `…${publisher.peer.slice(-6)}`)),
          topic.last ? ago(Date.now() - Date.parse(topic.last)) : "-",
          String(topic.events),
          few(topic.announced_by.map((announcer) => announcer.host)),
        ]),
      ]));
    }
    return 0;
  },
};

function schemaCell(topic: TopicListing): string {
  const where = topic.schema === undefined ? "-" : topic.defined_by === "config" ? "yes" : "peer";
  return topic.disagree ? `${where}, disagree` : where;
}

function shorten(text: string, max: number): string {
  const line = text.replace(/\s+/g, " ");
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** The first three, and how many more. */
function few(names: string[]): string {
  if (names.length === 0) return "-";
  return names.length <= 3 ? names.join(",") : `${names.slice(0, 3).join(",")} +${names.length - 3}`;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}
