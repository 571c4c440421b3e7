/**
 * Smoke test for a release binary, run on each platform's own runner by
 * `.github/workflows/release.yml`: `--version` names the expected version,
 * and two agents on loopback, joined by a token as a user would join them,
 * exchange an event each way.
 *
 *   deno run -A tests/release_smoke.ts [--expect-version X.Y.Z] dist/hark
 *   deno run -A tests/release_smoke.ts deno run -A main.ts      # from source
 *   HARK="deno run -A main.ts" deno run -A tests/release_smoke.ts
 *
 * It imports nothing from lib/: it checks the program only through its
 * command line, so it tests the binary and not the source next to it.
 */

const decoder = new TextDecoder();
/** Mesh formation and delivery take a second or two; this only bounds a failure. */
const DEADLINE_MS = 60_000;
/** One CLI call; a hung command must not hang the release job. */
const COMMAND_TIMEOUT_MS = 30_000;
/** How long a stopped agent may take to exit before it is killed. */
const STOP_GRACE_MS = 5_000;
const WINDOWS = Deno.build.os === "windows";

class SmokeError extends Error {
  override name = "SmokeError";
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function usage(): never {
  console.error(
    "Usage: deno run -A tests/release_smoke.ts [--expect-version X.Y.Z] HARK_COMMAND...\n" +
      '   or: HARK="deno run -A main.ts" deno run -A tests/release_smoke.ts',
  );
  Deno.exit(2);
}

function parseCommandLine(args: string[]): { hark: string[]; expectVersion?: string } {
  let expectVersion: string | undefined;
  if (args[0] === "--expect-version") {
    if (args.length < 2) usage();
    expectVersion = args[1].replace(/^v/, "");
    args = args.slice(2);
  }
  const hark = args.length > 0 ? args : (Deno.env.get("HARK") ?? "").split(/\s+/).filter(Boolean);
  if (hark.length === 0) usage();
  return { hark, expectVersion };
}

/** A path to an existing file becomes absolute; anything else is looked up on PATH. */
async function resolveProgram(program: string): Promise<string> {
  try {
    if ((await Deno.stat(program)).isFile) return await Deno.realPath(program);
  } catch {
    // Not a file here: a command name such as "deno".
  }
  return program;
}

/**
 * The environment without HARK_* variables, so the runner's (or a
 * developer's) own settings cannot change what the agents do.
 */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(Deno.env.toObject()).filter(([name]) => !name.startsWith("HARK_")));
}

class Smoke {
  readonly #hark: string[];
  readonly #root: string;
  readonly #agents: Agent[] = [];

  constructor(hark: string[], root: string) {
    this.#hark = hark;
    this.#root = root;
  }

  command(args: string[]): Deno.Command {
    return new Deno.Command(this.#hark[0], {
      args: [...this.#hark.slice(1), ...args],
      clearEnv: true,
      env: cleanEnv(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  }

  /** Runs one hark command to completion, within COMMAND_TIMEOUT_MS. */
  async run(args: string[]): Promise<Result> {
    const child = this.command(args).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), COMMAND_TIMEOUT_MS);
    try {
      const output = await child.output();
      return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a command that must succeed; its stdout. */
  async ok(args: string[]): Promise<string> {
    const result = await this.run(args);
    if (result.code !== 0) {
      throw new SmokeError(`\`hark ${args.join(" ")}\` exited with ${result.code}:\n${result.stderr}${result.stdout}`);
    }
    return result.stdout;
  }

  /** A state dir and a loopback-only config for one agent. */
  async agent(name: string): Promise<Agent> {
    const stateDir = `${this.#root}${WINDOWS ? "\\" : "/"}${name}`;
    const config = `${stateDir}.toml`;
    // Port 0: no clash with whatever else the runner listens on; the
    // running agent puts its real port into the join token.
    await Deno.writeTextFile(config, '[network]\nlisten = ["/ip4/127.0.0.1/tcp/0"]\nmdns = false\n');
    const agent = new Agent(this, name, ["--state-dir", stateDir, "--config", config]);
    this.#agents.push(agent);
    return agent;
  }

  /** Each agent's output, for the log of a failed run. */
  logs(): string {
    return this.#agents.map((agent) => agent.log()).join("\n");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const agent of this.#agents) await agent.kill();
    // Windows may hold a file of a just-killed process for a moment; a
    // leftover temp dir must not fail the smoke test.
    await Deno.remove(this.#root, { recursive: true }).catch(() => {});
  }
}

class Agent {
  readonly name: string;
  readonly #smoke: Smoke;
  readonly #flags: string[];
  #child?: Deno.ChildProcess;
  #output = "";
  #status?: Promise<Deno.CommandStatus>;
  #exited = false;
  peer = "";

  constructor(smoke: Smoke, name: string, flags: string[]) {
    this.#smoke = smoke;
    this.name = name;
    this.#flags = flags;
  }

  cli(args: string[]): Promise<string> {
    return this.#smoke.ok([...args, ...this.#flags]);
  }

  raw(args: string[]): Promise<Result> {
    return this.#smoke.run([...args, ...this.#flags]);
  }

  /** Starts `hark run` and waits until its control endpoint answers `hark id`. */
  async start(): Promise<void> {
    const child = this.#smoke.command(["run", "--host", this.name, ...this.#flags]).spawn();
    this.#child = child;
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) this.#output += chunk;
    };
    const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
    this.#status = child.status.then(async (status) => {
      this.#exited = true;
      await drained;
      return status;
    });
    const id = await poll(`agent ${this.name} to answer \`hark id\``, async () => {
      if (this.#exited) throw new SmokeError(`agent ${this.name} exited early`);
      const result = await this.raw(["id", "--json"]);
      return result.code === 0 && JSON.parse(result.stdout) as { peer: string; addresses: string[] };
    });
    this.peer = id.peer;
  }

  /** Peer ids connected to this agent that subscribe to "default". */
  async peersOnDefault(): Promise<string[]> {
    const peers = JSON.parse(await this.cli(["peers", "--json"])) as { peer: string; topics: string[] }[];
    return peers.filter((peer) => peer.topics.includes("default")).map((peer) => peer.peer);
  }

  /** Stops the agent as a service manager would; its exit code. */
  async stop(): Promise<number> {
    if (!this.#child || this.#exited) return (await this.#status)?.code ?? 0;
    // Windows has no SIGTERM to deliver: kill() ends the process outright.
    this.#child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), STOP_GRACE_MS));
    const outcome = await Promise.race([this.#status!, late]);
    clearTimeout(timer);
    if (outcome === "late") {
      await this.kill();
      throw new SmokeError(`agent ${this.name} did not exit within ${STOP_GRACE_MS} ms of SIGTERM`);
    }
    return outcome.code;
  }

  async kill(): Promise<void> {
    if (!this.#child || this.#exited) return;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Gone already.
    }
    await this.#status;
  }

  log(): string {
    return `--- agent ${this.name} output ---\n${this.#output || "(none)"}`;
  }
}

/** Retries `check` until it returns something truthy; fails at the deadline. */
async function poll<T>(what: string, check: () => Promise<T | false | undefined>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const result = await check();
      if (result) return result;
    } catch (error) {
      if (error instanceof SmokeError) throw error;
      last = ` (last error: ${(error as Error).message})`;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new SmokeError(`timed out after ${DEADLINE_MS / 1000} s waiting for ${what}${last}`);
}

function step(message: string): void {
  console.log(`== ${message}`);
}

/** Sends from `from` and waits until `to`'s history holds the event, signed by `from`. */
async function exchange(from: Agent, to: Agent): Promise<void> {
  const body = `from ${from.name} to ${to.name}`;
  const id = (await from.cli(["send", "--title", "release smoke", body])).trim();
  step(`${from.name} sent ${id}; waiting for it in ${to.name}'s history`);
  const event = await poll(`event ${id} in ${to.name}'s \`hark history --json\``, async () => {
    const lines = (await to.cli(["history", "--json"])).split("\n").filter(Boolean);
    return lines.map((line) => JSON.parse(line)).find((event) => event.id === id);
  });
  if (event.body !== body || event.source?.peer !== from.peer) {
    throw new SmokeError(`${to.name} received a different event than ${from.name} sent: ${JSON.stringify(event)}`);
  }
}

async function smoke(hark: string[], expectVersion: string | undefined): Promise<void> {
  await using session = new Smoke(hark, await Deno.makeTempDir({ prefix: "hark-smoke-" }));
  try {
    const version = (await session.ok(["--version"])).trim();
    step(version);
    if (expectVersion !== undefined && !version.startsWith(`hark ${expectVersion} `)) {
      throw new SmokeError(`\`hark --version\` printed "${version}", expected version ${expectVersion}`);
    }

    const a = await session.agent("smoke-a");
    const b = await session.agent("smoke-b");
    const noAgent = await a.raw(["send", "nobody listens"]);
    if (noAgent.code !== 3) {
      throw new SmokeError(`\`hark send\` with no agent exited with ${noAgent.code}, expected 3:\n${noAgent.stderr}`);
    }

    step("network create in a; start a");
    await a.cli(["network", "create", "smoke"]);
    await a.start();
    // Asked of the running agent, the token carries a's real address.
    const token = await poll("a token with a's address", async () => {
      const shown = JSON.parse(await a.cli(["network", "show", "--json"])) as { token: string; addresses: string[] };
      return shown.addresses.length > 0 && shown.token;
    });
    step("network join in b; start b");
    await b.cli(["network", "join", token]);
    await b.start();
    await poll("a and b to see each other on topic default", async () => {
      return (await a.peersOnDefault()).includes(b.peer) && (await b.peersOnDefault()).includes(a.peer);
    });

    await exchange(a, b);
    await exchange(b, a);

    step("stop both agents");
    for (const agent of [a, b]) {
      const code = await agent.stop();
      if (!WINDOWS && code !== 0) throw new SmokeError(`agent ${agent.name} exited with ${code} after SIGTERM`);
    }
  } catch (error) {
    console.error(session.logs());
    throw error;
  }
}

if (import.meta.main) {
  const { hark, expectVersion } = parseCommandLine(Deno.args);
  hark[0] = await resolveProgram(hark[0]);
  try {
    await smoke(hark, expectVersion);
    console.log("release smoke test passed");
  } catch (error) {
    console.error(`release smoke test FAILED: ${error instanceof SmokeError ? error.message : (error as Error).stack}`);
    Deno.exit(1);
  }
}
