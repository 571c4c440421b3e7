/**
 * Which notification `hark ack KEY|ID` (or `delete`) means: KEY is a
 * sequence or an event id, and keys are per topic, so the agent looks in its
 * store for the topic and the notification's sequence before it publishes.
 */

import { DEFAULT_TOPIC, type EventDraft } from "../event/event.ts";
import { HarkError } from "../errors.ts";
import type { NotificationBook } from "./book.ts";

/** The draft of a clear or delete with its topic and sequence settled; other drafts as they are. */
export function settleTarget(draft: EventDraft, book: NotificationBook | undefined): EventDraft {
  if ((draft.kind !== "clear" && draft.kind !== "delete") || draft.sequence === undefined || !book) return draft;
  const key = draft.sequence;
  const found = book.locate(key, draft.topic);
  if (found.length === 1) return { ...draft, topic: found[0].topic, sequence: found[0].sequence };
  if (found.length > 1) {
    throw new HarkError(
      `"${key}" names notifications on several topics (${
        found.map((target) => target.topic).join(", ")
      }): say which with --topic`,
    );
  }
  // Not stored here: with a topic it is still published, since another agent may show it.
  if (draft.topic !== undefined) return draft;
  throw new HarkError(
    `this agent's store holds no notification with key or id "${key}": check it with hark history, or give --topic TOPIC to ${
      draft.kind === "clear" ? "acknowledge" : "delete"
    } it anyway (the default topic is "${DEFAULT_TOPIC}")`,
  );
}
