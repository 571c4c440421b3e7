/**
 * The command action of an `[[escalate]]` rule: argv (never a shell), the
 * escalated event as JSON on stdin and its main fields in HARK_* variables,
 * as the exec sink gives them, with a deadline.
 */

import { getLogger } from "@logtape/logtape";
import type { HarkEvent } from "../event/event.ts";
import type { EscalationFacts } from "./escalation_marker.ts";

const log = getLogger(["hark", "escalate"]);

export const ESCALATION_COMMAND_TIMEOUT_MS = 30_000;

export async function runEscalationCommand(argv: string[], event: HarkEvent, facts: EscalationFacts): Promise<void> {
  const [program, ...args] = argv;
  const child = new Deno.Command(program, {
    args,
    env: {
      HARK_ID: event.id,
      HARK_TOPIC: event.topic,
      HARK_TITLE: event.title,
      HARK_BODY: event.body,
      HARK_PRIORITY: String(event.priority),
      HARK_HOST: event.source.host,
      HARK_SEQUENCE: facts.sequence,
      HARK_ESCALATION_RULE: facts.rule,
      HARK_ESCALATED_BY: facts.host,
    },
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(ESCALATION_COMMAND_TIMEOUT_MS),
  }).spawn();
  const writer = child.stdin.getWriter();
  // A program that does not read its stdin breaks the pipe; its exit code tells what happened.
  await writer.write(new TextEncoder().encode(JSON.stringify(event) + "\n")).catch(() => {});
  await writer.close().catch(() => {});
  const output = await child.output();
  if (output.success) return;
  const stderr = new TextDecoder().decode(output.stderr).trim().slice(0, 500);
  log.warn("Escalation command {program} exited with code {code}: {stderr}", {
    program,
    code: output.code,
    stderr: stderr || "(no output)",
  });
}
