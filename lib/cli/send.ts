/** `hark send`: publish one event through the local agent. */

import type { Command, GlobalOptions } from "./command.ts";
import { print, printError } from "./command.ts";
import {
  BODY_MAX_BYTES,
  createEvent,
  type EventDraft,
  MAX_EVENT_BYTES_CEILING,
  parsePriority,
} from "../event/event.ts";
import { EventError, UsageError } from "../errors.ts";
import { parseDuration } from "../util/duration.ts";
import { requestAgent } from "../control/client.ts";
import { sendLines } from "./send_lines.ts";
import { concatBytes } from "../util/bytes.ts";
import { jsonForTerminal } from "../util/controls.ts";
import { FUTURE_TIME_FORMS, parseDelay, parseFutureTime } from "../util/future_time.ts";

export const sendOptions = {
  topic: { type: "string", short: "t" },
  title: { type: "string" },
  priority: { type: "string", short: "p" },
  tag: { type: "string", multiple: true },
  data: { type: "string" },
  click: { type: "string" },
  ttl: { type: "string" },
} as const;

/** Options only `hark send` has (not `hark wrap`). */
const directOptions = {
  sequence: { type: "string" },
  dedup: { type: "string" },
  delay: { type: "string" },
  at: { type: "string" },
  direct: { type: "boolean" },
  timeout: { type: "string" },
  lines: { type: "boolean" },
} as const;

export const sendCommand: Command = {
  name: "send",
  usage: "hark send [options] [BODY|-]",
  help: `The body comes from BODY, or from stdin when BODY is - or stdin is a pipe.
Prints the new event's id once the agent has accepted and published it.

Limits: the body is at most 4096 bytes (4 KiB) and the title 256 characters, on
every agent whatever its max_event_bytes (the text a popup or phone shows stays
small); max_event_bytes (16 KiB by default) bounds the whole event, --data
included, so put larger content in --data or behind --click.

Options:
  -t, --topic T        topic (default "default"); A-Z a-z 0-9 . _ -, at most 64, case kept,
                       no leading or trailing "." nor ".."
      --title S        title, at most 256 characters
  -p, --priority P     1-5 or min, low, default, high, urgent (default 3)
      --tag T          a tag; repeat for more
      --data JSON      any JSON value, carried in the event's "data"
      --click URL      URL to open when the notification is clicked
      --ttl DURATION   drop the event after this long, e.g. 10m, 1h
      --sequence KEY   replaces the notification with that key on every agent (per topic;
                       ntfy's sequence id): A-Z a-z 0-9 - _, at most 64
      --dedup KEY      events with one key from several hosts make one notification on a desktop
                       that counts them ("disk full ×4: db01, db02, ..."); same alphabet as --sequence
      --delay DURATION deliver this long from now (30m, 2h, 3 days), 10 s to 3 days: published now,
                       every agent holds it and delivers it then, publisher online or not
      --at TIME        deliver at TIME: RFC 3339 (2026-12-07T12:00:00Z), unix seconds, "2026-12-07 12:00",
                       or 10am, 8:30pm, tomorrow, 10am, Tuesday, 7pm (the last two kinds in this machine's
                       local time); with --sequence a new one replaces the pending one, and hark ack KEY
                       cancels it
      --json           print the whole event as JSON instead of its id
      --direct         no local agent (CI, containers): join the network with this state dir's key,
                       publish, leave; fails when no peer is reachable
      --timeout D      with --direct: how long to look for a peer (default 10s)
      --lines          each line on stdin is its own event, sent as it comes (journalctl -f | hark send --lines);
                       a line over 4096 bytes is sent as several events, with a warning

Examples:
  hark send "backup finished"
  hark send -t builds -p high --title "Build #812 failed" --tag ci "test_login timed out"
  make 2>&1 | tail -5 | hark send -t builds -
  hark send -t deploys --sequence deploy-42 "deploy 42: tests passed"   # then: hark ack deploy-42
  hark send -t alerts -p urgent --dedup disk-full --title "disk full" "/var at 99%"
  hark send --at "tomorrow, 9am" "stand-up in the big room"
  hark send --delay 1h --sequence backup-db01 "db01 backup missed"   # after each good backup: a dead man's switch
  hark send --direct --state-dir /ci/hark -t deploys "deployed $GIT_SHA"`,
  options: { ...sendOptions, ...directOptions },
  async run({ global, values, positionals }) {
    if (positionals.length > 1) {
      throw new UsageError(`send takes one BODY argument, got ${positionals.length}; quote the body`);
    }
    const draft = draftFromOptions(values);
    if (values.lines) return await sendLines(global, draft);
    draft.body = await readBody(positionals[0]);
    // Check here first, so mistakes get a clear error without an agent; the
    // agent checks again against its own limits.
    createEvent(draft, { id: "00000000000000000000000000", now: Date.now(), host: "localhost", peer: "self" }, {
      maxEventBytes: MAX_EVENT_BYTES_CEILING,
    });
    if (values.direct) return await direct(global, values, draft);
    const reply = await requestAgent(global.stateDir, { op: "send", event: draft });
    if (global.json) print(jsonForTerminal(reply.event));
    else print(String(reply.id));
    if (reply.recipients === 0 && !reply.local) {
      printError(`hark: note: no agent subscribes to topic "${draft.topic ?? "default"}" right now`);
    }
    return 0;
  },
};

// deno-lint-ignore no-explicit-any
async function direct(global: GlobalOptions, values: Record<string, any>, draft: EventDraft): Promise<number> {
  let timeoutMs = 10_000;
  if (values.timeout !== undefined) {
    try {
      timeoutMs = parseDuration(values.timeout);
    } catch (error) {
      throw new UsageError(`--timeout: ${(error as Error).message}`);
    }
  }
  const { loadConfig } = await import("./load_config.ts");
  const { sendDirect } = await import("./send_direct.ts");
  const config = await loadConfig({ path: global.config, stateDir: global.stateDir, flags: {} });
  const event = await sendDirect({ config, stateDir: global.stateDir, draft, timeoutMs });
  print(global.json ? jsonForTerminal(event) : event.id);
  return 0;
}

// deno-lint-ignore no-explicit-any
export function draftFromOptions(values: Record<string, any>): EventDraft {
  const draft: EventDraft = {};
  if (values.topic !== undefined) draft.topic = values.topic;
  if (values.title !== undefined) draft.title = values.title;
  if (values.priority !== undefined) draft.priority = parsePriority(values.priority);
  if (values.tag !== undefined) draft.tags = values.tag;
  if (values.click !== undefined) draft.click = values.click;
  if (values.sequence !== undefined) draft.sequence = values.sequence;
  if (values.dedup !== undefined) draft.dedup = values.dedup;
  if (values.ttl !== undefined) {
    try {
      draft.ttl = parseDuration(values.ttl);
    } catch (error) {
      throw new UsageError(`--ttl: ${(error as Error).message}`);
    }
  }
  if (values.delay !== undefined) {
    const delay = parseDelay(values.delay);
    if (delay === undefined) {
      throw new UsageError(`--delay: invalid duration "${values.delay}": use e.g. 30s, 10m, 2h, 3 days, or --at TIME`);
    }
    draft.delay = delay;
  }
  if (values.at !== undefined) {
    if (values.delay !== undefined) throw new UsageError("give --delay or --at, not both");
    try {
      draft.at = parseFutureTime(values.at);
    } catch {
      throw new UsageError(`--at: cannot read "${values.at}": use ${FUTURE_TIME_FORMS}`);
    }
  }
  if (values.data !== undefined) {
    try {
      draft.data = JSON.parse(values.data);
    } catch (error) {
      throw new EventError(`--data is not valid JSON: ${(error as Error).message}`);
    }
  }
  const user = Deno.env.get("USER") ?? Deno.env.get("USERNAME");
  if (user) draft.user = user.slice(0, 64);
  return draft;
}

async function readBody(argument: string | undefined): Promise<string> {
  if (argument !== undefined && argument !== "-") return argument;
  if (argument === undefined && !stdinIsData()) return "";
  return await readStdin(BODY_MAX_BYTES);
}

/** True when stdin is a pipe or a file: `echo hi | hark send`, `hark send < f`. */
function stdinIsData(): boolean {
  if (Deno.stdin.isTerminal()) return false;
  // Windows has no /dev/stdin; there a redirected stdin is always data.
  if (Deno.build.os === "windows") return true;
  try {
    const info = Deno.statSync("/dev/stdin");
    return info.isFile || info.isFifo === true || info.isSocket === true;
  } catch {
    return false;
  }
}

async function readStdin(maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of Deno.stdin.readable) {
    total += chunk.length;
    if (total > maxBytes) {
      throw new EventError(`body on stdin is over ${maxBytes} bytes, the limit; put large content behind --click`);
    }
    chunks.push(chunk);
  }
  const bytes = concatBytes(chunks, total);
  // Like `$(cmd)`, drop the trailing newline that `echo` adds.
  return new TextDecoder().decode(bytes).replace(/\r?\n$/, "");
}
