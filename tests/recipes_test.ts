/**
 * The recipes of docs/recipes.md, run exactly as written: each `sh` block
 * runs with `hark` on PATH, and the events it makes must reach
 * another agent.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { saveNetwork } from "../lib/mesh/network.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function recipes(): Promise<string[]> {
  const page = await Deno.readTextFile(new URL("../docs/recipes.md", import.meta.url));
  return [...page.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);
}

Deno.test("every recipe in docs/recipes.md runs as written and its events arrive", async () => {
  const blocks = await recipes();
  assert.equal(blocks.length, 6);
  const dir = await Deno.makeTempDir({ prefix: "hark-recipes-" });
  const fifo = `${dir}/alert`;
  await using receiver = await startAgent({
    config: loopbackConfig([], `[agent]\ntopics = ["default", "commits", "deploys", "backups", "logs"]`),
  });
  await using local = await startAgent({
    config: loopbackConfig(
      receiver.addresses,
      `[agent]\ntopics = ["default", "commits", "deploys", "backups", "logs"]\n[[source]]\ntype = "fifo"\npath = "${fifo}"`,
    ),
  });
  await local.waitForPeers([receiver.peerId], "logs");
  // `hark` on PATH, talking to the local agent; the CI step gets a state dir of its own, with no agent.
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    `${bin}/hark`,
    `#!/bin/sh\nexec "${Deno.execPath()}" run --allow-all --quiet "${MAIN}" "$@"\n`,
  );
  await Deno.chmod(`${bin}/hark`, 0o755);
  const ciStateDir = `${dir}/ci`;
  await Deno.mkdir(ciStateDir, { mode: 0o700 });
  await saveNetwork(ciStateDir, TEST_NETWORK);
  const repo = `${dir}/repo`;
  const git = (...args: string[]) =>
    new Deno.Command("git", { args, cwd: repo, stdout: "null", stderr: "piped" }).output();
  try {
    const env = {
      PATH: `${bin}:${Deno.env.get("PATH")}`,
      HARK_STATE_DIR: local.stateDir,
      XDG_CONFIG_HOME: `${dir}/xdg`,
      HARK_FIFO: fifo,
      GIT_SHA: "abc1234",
    };
    const run = async (script: string, extra: Record<string, string> = {}, cwd = dir) => {
      const output = await new Deno.Command("sh", { args: ["-c", script], env: { ...env, ...extra }, cwd }).output();
      assert.equal(output.code, 0, `${script}\n${new TextDecoder().decode(output.stderr)}`);
    };
    const [hook, ci, cron, follow, deadMan, arpwatch] = blocks;

    // The git hook: installed in a fresh repository and fired by a commit.
    await Deno.mkdir(repo);
    await git("init", "-q");
    await Deno.writeTextFile(`${repo}/.git/hooks/post-commit`, hook);
    await Deno.chmod(`${repo}/.git/hooks/post-commit`, 0o755);
    await Deno.writeTextFile(`${repo}/file`, "x");
    await git("add", "file");
    await run("git -c user.name=Ada -c user.email=ada@example.org commit -q -m 'Add file'", {}, repo);
    await run(ci, { HARK_STATE_DIR: ciStateDir, HARK_PEERS: receiver.addresses[0], HARK_MDNS: "false" });
    await run(cron);
    await run(follow);
    await run(arpwatch);
    // The dead man's switch, run twice as after two good backups: the receiver holds the second, due an hour on.
    await run(deadMan);
    await run(deadMan);
    await waitFor(async () => {
      const { status } = await receiver.request({ op: "status" });
      const scheduled = (status as { scheduled: { pending: number; next: { sequence?: string; due: string }[] } })
        .scheduled;
      return scheduled.pending === 1 && scheduled.next.every((event) => event.sequence === "backup-db01") &&
        Date.parse(scheduled.next[0].due) - Date.now() > 59 * 60_000;
    }, { message: "the receiver to hold the dead man's switch" });

    const events = await waitFor(async () => {
      const all = await receiver.events();
      const has = (check: (e: (typeof all)[number]) => boolean) => all.some(check);
      const done = has((e) => e.topic === "commits" && e.title === "Add file" && / by Ada$/.test(e.body)) &&
        has((e) => e.topic === "deploys" && e.body === "commit abc1234 is live") &&
        has((e) => e.topic === "backups" && /succeeded/.test(e.title ?? "") && /copied 42 files/.test(e.body)) &&
        has((e) => e.topic === "logs" && e.body === "disk sda1 failing") &&
        has((e) => e.topic === "logs" && e.body === "fan 2 stopped") &&
        has((e) => e.title === "New station:" && e.body === "198.18.0.9 aa:bb:cc:dd:ee:ff");
      return done && all;
    }, { message: "the events of every recipe at the receiver" });
    assert.equal(events.filter((e) => e.topic === "logs").length, 2, "one event per line");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
