/**
 * Talking to an agent's http source as ntfy's clients do: its address from
 * `hark status`, `curl` to completion, and a `curl -N` subscription read as
 * it streams. The ntfy tests share these.
 */

import type { AgentProcess } from "./hark.ts";
import { waitFor } from "./wait.ts";
import { readLines } from "../../lib/util/lines.ts";

/** The http source's address, read from `hark status`. */
export async function httpAddress(agent: AgentProcess): Promise<string> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  return `http://${sources.find((source) => source.name === "http")!.listen}`;
}

/** Only PATH: no proxy or curlrc of the user who runs the tests. */
function curlEnv(): Record<string, string> {
  return { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
}

/** `curl ARGS` run to completion: its exit code and stdout. */
export async function curl(...args: string[]): Promise<{ code: number; stdout: string }> {
  const output = await new Deno.Command("curl", {
    args,
    clearEnv: true,
    env: curlEnv(),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return { code: output.code, stdout: new TextDecoder().decode(output.stdout) };
}

/** A `curl -s -N …` that keeps streaming: its lines as they come, until disposed. */
export class CurlStream implements AsyncDisposable {
  readonly lines: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #reading: Promise<void>;

  constructor(...args: string[]) {
    const child = new Deno.Command("curl", {
      args: ["-s", "-N", ...args],
      clearEnv: true,
      env: curlEnv(),
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#child = child;
    this.#reading = (async () => {
      for await (const line of readLines(child.stdout, 1024 * 1024)) this.lines.push(line);
    })();
  }

  /** Waits until some line satisfies `match`; returns it. */
  async until(match: (line: string) => boolean, what: string, timeoutMs = 15_000): Promise<string> {
    return await waitFor(() => this.lines.find(match), { message: what, timeoutMs });
  }

  /** The JSON lines so far. */
  json<T = Record<string, unknown>>(): T[] {
    return this.lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.#child.status;
    await this.#reading.catch(() => {});
  }
}
