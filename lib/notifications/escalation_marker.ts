/**
 * `hark.escalation`: the marker an agent publishes when it carries out an
 * `[[escalate]]` rule, so that every other agent knows the rule has fired
 * for that event and stays silent (lib/notifications/escalator.ts). Every
 * agent follows the topic, and catch-up brings markers like any event.
 */

import type { HarkEvent } from "../event/event.ts";

export const ESCALATION_TOPIC = "hark.escalation";

/** What a marker's `data` holds. */
export interface EscalationFacts {
  /** The rule's name (`[[escalate]] name`). */
  rule: string;
  /** The escalated event: its id, topic and notification. */
  event: string;
  topic: string;
  sequence: string;
  /** The agent that took it: the marker's signer. */
  peer: string;
  host: string;
}

/** The key of one rule's escalation of one event. */
export function escalationKey(rule: string, eventId: string): string {
  return `${rule}\n${eventId}`;
}

/** Why a marker is refused (it must name its signer as the agent that took it), or undefined. */
export function checkEscalationMarker(event: HarkEvent): { reason: "unauthorized"; detail: string } | undefined {
  const data = event.data as Partial<EscalationFacts> | undefined;
  if (
    typeof data !== "object" || data === null || typeof data.rule !== "string" || typeof data.event !== "string" ||
    typeof data.peer !== "string"
  ) {
    return { reason: "unauthorized", detail: `${ESCALATION_TOPIC} without data.rule, data.event and data.peer` };
  }
  if (data.peer !== event.source.peer) {
    return { reason: "unauthorized", detail: `${ESCALATION_TOPIC} naming another agent, ${data.peer}` };
  }
  return undefined;
}
