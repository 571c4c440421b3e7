/** `hark send --lines`: one event per stdin line, a line over the body limit split into several with a warning. */

import type { GlobalOptions } from "./command.ts";
import { print, printError } from "./command.ts";
import { BODY_MAX_BYTES, type EventDraft } from "../event/event.ts";
import { ControlClient } from "../control/client.ts";
import { readLines } from "../util/lines.ts";
import { jsonForTerminal } from "../util/controls.ts";

/** Longest line read; a longer one is an error (a writer that never ends its line). */
const LINE_MAX_BYTES = 1024 * 1024;

/**
 * One event per stdin line, sent as each line arrives, over one connection
 * to the agent; ends with stdin. A line over the body limit becomes several
 * events in order, with a warning: cutting it would lose the end of a log
 * line, silently. A line the agent refuses is reported and skipped, so one
 * bad line does not stop a follow of a log.
 */
export async function sendLines(global: GlobalOptions, draft: EventDraft): Promise<number> {
  const client = await ControlClient.connect(global.stateDir);
  let refused = 0;
  try {
    for await (const line of readLines(Deno.stdin.readable, LINE_MAX_BYTES)) {
      if (line.trim() === "") continue;
      const parts = splitToBytes(line, BODY_MAX_BYTES);
      if (parts.length > 1) {
        printError(
          `hark: warning: a line of ${
            byteLength(line)
          } bytes is over the body limit of ${BODY_MAX_BYTES} bytes; sent as ${parts.length} events`,
        );
      }
      for (const body of parts) {
        const reply = await client.request({ op: "send", event: { ...draft, body } });
        if (reply.ok) print(global.json ? jsonForTerminal(reply.event) : String(reply.id));
        else {
          refused++;
          printError(`hark: line not sent: ${reply.error}`);
        }
      }
    }
  } finally {
    client.close();
  }
  return refused > 0 ? 1 : 0;
}

/** UTF-8 length of one code point (a lone surrogate is written as U+FFFD, 3 bytes). */
function codePointBytes(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

function byteLength(text: string): number {
  let bytes = 0;
  for (const char of text) bytes += codePointBytes(char.codePointAt(0)!);
  return bytes;
}

/** `text` in pieces of at most `maxBytes` UTF-8 bytes, never splitting a character. */
export function splitToBytes(text: string, maxBytes: number): string[] {
  const parts: string[] = [];
  let start = 0;
  let bytes = 0;
  let index = 0;
  for (const char of text) {
    const size = codePointBytes(char.codePointAt(0)!);
    if (bytes + size > maxBytes) {
      parts.push(text.slice(start, index));
      start = index;
      bytes = 0;
    }
    bytes += size;
    index += char.length;
  }
  parts.push(text.slice(start));
  return parts;
}
