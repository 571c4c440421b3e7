/** Agents with an `[[escalate]]` rule from `alerts` to `oncall`, and what they say about it: the escalation tests share these. */

import type { HarkEvent } from "../../lib/event/event.ts";
import { type AgentProcess, loopbackConfig } from "./hark.ts";

/** Config for an agent on `alerts` and `oncall`, with a file sink and a rule escalating `alerts` after `afterMs`. */
export function escalationConfig(host: string, peers: string[], afterMs: number): string {
  return loopbackConfig(
    peers,
    `[agent]
host = "${host}"
topics = ["alerts", "oncall"]

[[sink]]
type = "file"

[[escalate]]
topics = ["alerts"]
after = "${afterMs / 1000}s"
publish = { topic = "oncall" }
`,
  );
}

export interface EscalationStats {
  pending: number;
  fired_here: number;
  taken_by_others: number;
}

/** The escalator's part of `hark status`. */
export async function escalations(agent: AgentProcess): Promise<EscalationStats> {
  const { status } = await agent.request({ op: "status" });
  return (status as { escalations: EscalationStats }).escalations;
}

/** The escalated events in the agent's file sink. */
export async function oncall(agent: AgentProcess): Promise<HarkEvent[]> {
  return (await agent.events()).filter((event) => event.topic === "oncall");
}

/** The agents by peer id, lowest first: the order in which they would take an escalation. */
export function byPeerId(agents: AgentProcess[]): AgentProcess[] {
  return [...agents].sort((x, y) => (x.peerId < y.peerId ? -1 : 1));
}
