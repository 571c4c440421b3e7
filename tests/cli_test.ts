/**
 * The CLI against a real agent process: bad input gets a clear one-line
 * error and the agent stays up; start-up mistakes fail fast with a reason.
 */

import assert from "node:assert/strict";
import { hark, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { newNetwork, saveNetwork } from "../lib/mesh/network.ts";
import { loadIdentity } from "../lib/mesh/identity.ts";

/** One line, no stack trace. */
function assertOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0], /^hark: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

Deno.test("hark send rejects bad input with a clear error and the agent stays up", async (t) => {
  await using agent = await startAgent({ config: loopbackConfig() });
  const cases: { name: string; args: string[]; stdin?: string; code: number; error: RegExp }[] = [
    { name: "oversized body", args: ["x".repeat(5000)], code: 2, error: /body is 5000 bytes; the limit is 4096/ },
    {
      name: "oversized body on stdin",
      args: ["-"],
      stdin: "y".repeat(5000),
      code: 2,
      error: /over 4096 bytes/,
    },
    { name: "bad topic", args: ["-t", "Bad Topic!", "hi"], code: 2, error: /invalid topic "Bad Topic!"/ },
    { name: "bad priority", args: ["-p", "9", "hi"], code: 2, error: /invalid priority "9": use 1-5/ },
    { name: "bad priority name", args: ["-p", "loud", "hi"], code: 2, error: /invalid priority "loud"/ },
    { name: "invalid --data JSON", args: ["--data", "{nope", "hi"], code: 2, error: /--data is not valid JSON/ },
    { name: "title too long", args: ["--title", "t".repeat(300), "hi"], code: 2, error: /title is 300 characters/ },
    { name: "bad --ttl", args: ["--ttl", "soon", "hi"], code: 2, error: /--ttl: invalid duration "soon"/ },
    { name: "unknown flag", args: ["--colour", "red", "hi"], code: 2, error: /Unknown option '--colour'/ },
    { name: "nothing to send", args: [], code: 2, error: /nothing to send/ },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const result = await agent.cli(["send", ...c.args], { stdin: c.stdin });
      assert.equal(result.code, c.code, result.stderr);
      assert.equal(result.stdout, "");
      assertOneLineError(result.stderr, c.error);
    });
  }
  await t.step("the agent still works", async () => {
    const id = await agent.send(["--data", '{"build": 812}', "still here"]);
    const [event] = (await agent.waitForEvents([id])).filter((event) => event.id === id);
    assert.deepEqual(event.data, { build: 812 });
  });
});

Deno.test("the control socket answers garbage with errors and keeps serving", async (t) => {
  await using agent = await startAgent({ config: loopbackConfig() });
  const socket = `${agent.stateDir}/hark.sock`;
  assert.equal((await Deno.stat(socket)).mode! & 0o777, 0o600, "socket is private to its owner");

  async function exchange(payload: Uint8Array): Promise<string> {
    const conn = await Deno.connect({ transport: "unix", path: socket });
    try {
      const write = (async () => {
        let offset = 0;
        while (offset < payload.length) offset += await conn.write(payload.subarray(offset));
      })().catch(() => {});
      const reader = conn.readable.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      reader.releaseLock();
      await write;
      return text.split("\n")[0];
    } finally {
      try {
        conn.close();
      } catch {
        // closed by the agent
      }
    }
  }
  const encode = (text: string) => new TextEncoder().encode(text);
  const cases: { name: string; payload: Uint8Array; error: RegExp }[] = [
    { name: "not JSON", payload: encode("hello agent\n"), error: /not valid JSON/ },
    { name: "not an object", payload: encode("[1,2,3]\n"), error: /must be a JSON object/ },
    { name: "unknown op", payload: encode('{"op":"explode"}\n'), error: /unknown op "explode"/ },
    {
      name: "binary junk",
      payload: crypto.getRandomValues(new Uint8Array(512)).map((b) => b === 10 ? 11 : b),
      error: /./,
    },
    {
      name: "bad event field",
      payload: encode('{"op":"send","event":{"topic":"UP..PER","body":"x"}}\n'),
      error: /invalid topic "UP\.\.PER"/,
    },
    {
      name: "wrong type",
      payload: encode('{"op":"send","event":{"body":42}}\n'),
      error: /body must be a string/,
    },
    {
      name: "unknown event field",
      payload: encode('{"op":"send","event":{"body":"x","id":"forged"}}\n'),
      error: /unknown field "id"/,
    },
    { name: "oversized line", payload: encode("x".repeat(200_000)), error: /request too large/ },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const payload = c.name === "binary junk" ? new Uint8Array([...c.payload, 10]) : c.payload;
      const reply = JSON.parse(await exchange(payload));
      assert.equal(reply.ok, false);
      assert.match(reply.error, c.error);
    });
  }
  await t.step("status still answers", async () => {
    const status = await agent.cli(["status", "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const parsed = JSON.parse(status.stdout);
    assert.equal(parsed.peer, agent.peerId);
    assert.ok(parsed.memory.rss_mb > parsed.memory.heap_mb && parsed.memory.heap_mb > 0, JSON.stringify(parsed.memory));
    const human = await agent.cli(["status"]);
    assert.match(human.stdout, /^hark \S+, up \d+ s, [\d.]+ MB resident \([\d.]+ MB JavaScript heap\)$/m);
  });
});

Deno.test("commands without an agent exit 3 with a hint", async () => {
  const stateDir = await Deno.makeTempDir();
  try {
    for (const command of [["send", "hi"], ["peers"], ["status"], ["id"], ["tail"]]) {
      const result = await hark([...command, "--state-dir", stateDir]);
      assert.equal(result.code, 3, `${command[0]}: ${result.stderr}`);
      assertOneLineError(result.stderr, /No hark agent is running .* `hark run`/);
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("hark run refuses bad start-up conditions in one line", async (t) => {
  const dir = await Deno.makeTempDir();
  const run = (args: string[]) => hark(["run", ...args], { env: { XDG_CONFIG_HOME: dir } });
  try {
    await t.step("unknown config key names file, line and key", async () => {
      const path = `${dir}/bad.toml`;
      await Deno.writeTextFile(path, `[network]\nmdns = false\n\n[agent]\nbnid = 1\n`);
      const result = await run(["--config", path, "--state-dir", `${dir}/s1`]);
      assert.equal(result.code, 2);
      assertOneLineError(result.stderr, /Cannot read config ".*bad.toml": unknown key "agent.bnid" at line 5/);
    });
    await t.step("wrong type in config", async () => {
      const path = `${dir}/type.toml`;
      await Deno.writeTextFile(path, `[network]\nmdns = "yes"\n`);
      const result = await run(["--config", path, "--state-dir", `${dir}/s2`]);
      assert.equal(result.code, 2);
      assertOneLineError(result.stderr, /"network.mdns" must be true or false.* at line 2/);
    });
    await t.step("missing explicit config file", async () => {
      const result = await run(["--config", `${dir}/missing.toml`, "--state-dir", `${dir}/s3`]);
      assert.equal(result.code, 2);
      assertOneLineError(result.stderr, /Cannot read config ".*missing.toml": no such file/);
    });
    await t.step("unwritable state dir", async () => {
      await Deno.writeTextFile(`${dir}/plain-file`, "");
      const result = await run(["--state-dir", `${dir}/plain-file/state`, "--no-mdns"]);
      assert.equal(result.code, 1);
      assertOneLineError(result.stderr, /Cannot create state dir ".*plain-file\/state"/);
    });
    await t.step("state dir open to others", async () => {
      await Deno.mkdir(`${dir}/open`, { mode: 0o755 });
      await Deno.chmod(`${dir}/open`, 0o755);
      const result = await run(["--state-dir", `${dir}/open`, "--no-mdns"]);
      assert.equal(result.code, 1);
      assertOneLineError(result.stderr, /State dir ".*open" is open to other users \(mode 755\).*chmod 700/);
    });
    for (const file of ["identity.key", "swarm.key"]) {
      await t.step(`${file} readable by others`, async () => {
        const stateDir = `${dir}/open-${file}`;
        await Deno.mkdir(stateDir, { mode: 0o700 });
        await saveNetwork(stateDir, newNetwork("test"));
        if (file === "identity.key") await loadIdentity(stateDir);
        await Deno.chmod(`${stateDir}/${file}`, 0o644);
        const result = await run(["--state-dir", stateDir, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"]);
        assert.equal(result.code, 1);
        assertOneLineError(
          result.stderr,
          new RegExp(`"${stateDir}/${file}" is readable by other users \\(mode 644\\)`),
        );
      });
    }
    await t.step("invalid listen address", async () => {
      const result = await run(["--state-dir", `${dir}/s4`, "--no-mdns", "--listen", "not-an-addr"]);
      assert.equal(result.code, 2);
      assertOneLineError(result.stderr, /network.listen: "not-an-addr" is not a valid multiaddr/);
    });
    await t.step("port already in use", async () => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        const port = (listener.addr as Deno.NetAddr).port;
        const result = await run(["--state-dir", `${dir}/s5`, "--no-mdns", "--listen", `/ip4/127.0.0.1/tcp/${port}`]);
        assert.equal(result.code, 1);
        assertOneLineError(result.stderr, /Cannot listen on .*: address already in use/);
      } finally {
        listener.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second agent on the same state dir is refused", async () => {
  await using agent = await startAgent({ config: loopbackConfig() });
  const result = await hark(["run", "--state-dir", agent.stateDir, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"]);
  assert.equal(result.code, 1);
  assertOneLineError(result.stderr, /Another agent is already running with state dir/);
  assert.equal((await agent.cli(["id"])).code, 0, "the first agent is untouched");
});

Deno.test("SIGTERM and SIGINT stop the agent within 2 s and it exits cleanly", async (t) => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    await t.step(signal, async () => {
      await using agent = await startAgent({ config: loopbackConfig() });
      agent.child.kill(signal);
      const status = await waitFor(() => !agent.running && agent.exited, {
        timeoutMs: 2000,
        intervalMs: 10,
        message: `agent to exit after ${signal}`,
      });
      assert.equal((await status).code, 0, agent.stderr);
      await assert.rejects(Deno.stat(`${agent.stateDir}/hark.sock`), Deno.errors.NotFound, "socket removed");
    });
  }
});

/** A `hark tail` process and what it has printed so far. */
function spawnTail(stateDir: string, args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("../main.ts", import.meta.url).pathname,
      "tail",
      ...args,
      "--state-dir",
      stateDir,
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const tail = { text: "", [Symbol.asyncDispose]: async () => {} };
  const collecting = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) tail.text += chunk;
  })();
  tail[Symbol.asyncDispose] = async () => {
    child.kill("SIGTERM");
    await collecting;
    await child.stderr.cancel();
    await child.status;
  };
  return tail;
}

Deno.test("hark tail streams events as they arrive", async () => {
  await using agent = await startAgent({ config: loopbackConfig([], `[agent]\ntopics = ["default", "builds"]\n`) });
  await using tail = spawnTail(agent.stateDir, ["-t", "builds", "--json"]);
  // tail is listening once an event sent after it started shows up.
  const id = await waitFor(async () => {
    const sent = await agent.send(["-t", "builds", "--title", "\x1b[31mred\x1b[0m", "done"]);
    return await waitFor(() => tail.text.includes(sent) && sent, { timeoutMs: 1000 }).catch(() => undefined);
  }, { timeoutMs: 15_000, message: "tail to print the event" });
  const line = tail.text.split("\n").find((line) => line.includes(id))!;
  const event = JSON.parse(line);
  assert.equal(event.topic, "builds");
  assert.equal(event.title, "\x1b[31mred\x1b[0m", "--json keeps the text exactly");
});

Deno.test("hark tail --when prints only the events that match", async () => {
  await using agent = await startAgent({ config: loopbackConfig([], `[agent]\ntopics = ["default", "builds"]\n`) });
  await using tail = spawnTail(agent.stateDir, ["-t", "builds", "--json", "--when", "priority >= 4"]);
  const low: string[] = [];
  // Each urgent event follows a routine one; once an urgent one is printed, the routine one before it was filtered.
  const urgent = await waitFor(async () => {
    low.push(await agent.send(["-t", "builds", "-p", "2", "routine"]));
    const sent = await agent.send(["-t", "builds", "-p", "5", "urgent"]);
    return await waitFor(() => tail.text.includes(sent) && sent, { timeoutMs: 1000 }).catch(() => undefined);
  }, { timeoutMs: 15_000, message: "tail to print the urgent event" });
  const printed = tail.text.trim().split("\n").map((line) => JSON.parse(line));
  assert.ok(printed.every((event) => event.priority >= 4), tail.text);
  assert.equal(printed.at(-1).id, urgent);
  for (const id of low) assert.ok(!tail.text.includes(id));
});

Deno.test("hark tail --when refuses a bad filter and points at the mistake", async () => {
  await using agent = await startAgent({ config: loopbackConfig() });
  const result = await agent.cli(["tail", "--when", "prio >= 4"]);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    'hark: unknown field "prio" (fields are id, topic, title, body, priority, tags, time, click, expires, source.host, source.peer, source.user, data.*) at 1:1\n  prio >= 4\n  ^^^^\n',
  );
});

Deno.test("hark --version names hark, libp2p, gossipsub and deno", async () => {
  const result = await hark(["--version"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^hark 0\.1\.0 \(libp2p 3\.3\.11, gossipsub 17\.1\.1, deno \d+\.\d+\.\d+\)\n$/);
});
