/**
 * `hark ack KEY|ID` and `hark delete KEY|ID`: publish an acknowledgement
 * (clear) or a deletion of a notification, which closes it on every agent
 * (lib/notifications/). Signed by this agent like any event, so sinks and
 * scripts see who acknowledged what, and when.
 */

import type { Command } from "./command.ts";
import { print } from "./command.ts";
import { checkTopic, type EventDraft, SEQUENCE_PATTERN } from "../event/event.ts";
import { UsageError } from "../errors.ts";
import { requestAgent } from "../control/client.ts";

export function lifecycleCommand(kind: "clear" | "delete", name: string, verb: string, closes: string): Command {
  return {
    name,
    usage: `hark ${name} [-t TOPIC] KEY|ID`,
    help: `${verb} the notification with sequence KEY (hark send --sequence KEY), or the event
with this ID, on every agent: ${closes}. Prints the id of the "${kind}" event.

Options:
  -t, --topic T    the topic of the notification (keys are per topic); needed only when
                   this agent's store holds no notification with that key or id, or
                   holds one on several topics
      --json       print the whole "${kind}" event as JSON instead of its id

Examples:
  hark ${name} deploy-42
  hark ${name} -t builds 01JDQ8ZC5V8Q0W3Z7M9N4T2B6K`,
    options: { topic: { type: "string", short: "t" } },
    async run({ global, values, positionals }) {
      if (positionals.length !== 1) {
        throw new UsageError(`${name} takes one KEY or ID, got ${positionals.length}: hark ${name} KEY`);
      }
      const key = positionals[0];
      if (!SEQUENCE_PATTERN.test(key)) {
        throw new UsageError(
          `"${key}" is not a key or an event id: use 1-64 characters from A-Z, a-z, 0-9, "-" and "_"`,
        );
      }
      const draft: EventDraft = { kind, sequence: key };
      if (values.topic !== undefined) draft.topic = checkTopic(values.topic);
      const user = Deno.env.get("USER") ?? Deno.env.get("USERNAME");
      if (user) draft.user = user.slice(0, 64);
      const reply = await requestAgent(global.stateDir, { op: "send", event: draft });
      print(global.json ? JSON.stringify(reply.event) : String(reply.id));
      return 0;
    },
  };
}

export const ackCommand = lifecycleCommand(
  "clear",
  "ack",
  "Acknowledges (clears)",
  "its popups close and ntfy subscribers get message_clear",
);
