/** The docs' examples stay true: their config examples parse, the example plugin runs. */

import assert from "node:assert/strict";
import { parseConfig, resolveConfig } from "../lib/config/config.ts";
import type { EventDraft, HarkEvent } from "../lib/event/event.ts";
import { createSinks } from "../sinks/mod.ts";

const PLUGINS = new URL("../docs/plugins.md", import.meta.url);
const CONFIG = new URL("../docs/config.md", import.meta.url);
const LAYOUT = new URL("../docs/layout.md", import.meta.url);

/** The README and every page of docs/. */
async function pages(): Promise<string[]> {
  const texts = [await Deno.readTextFile(new URL("../README.md", import.meta.url))];
  for await (const entry of Deno.readDir(new URL("../docs/", import.meta.url))) {
    if (entry.name.endsWith(".md")) {
      texts.push(await Deno.readTextFile(new URL(`../docs/${entry.name}`, import.meta.url)));
    }
  }
  return texts;
}

/** The docs' example plugin, and the config block that names it, in a directory laid out as docs/plugins.md says. */
async function pluginExample(): Promise<{ dir: string; config: string }> {
  const readme = await Deno.readTextFile(PLUGINS);
  const code = /```ts\n\/\/ plugins\/page-oncall\.ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(code, "docs/plugins.md has an example plugin, plugins/page-oncall.ts");
  const config = [...readme.matchAll(/```toml\n([\s\S]*?)```/g)].map((match) => match[1])
    .find((block) => block.includes(`type = "plugin"`));
  assert.ok(config, "docs/plugins.md has a plugin sink example");
  const dir = await Deno.makeTempDir({ prefix: "hark-readme-" });
  await Deno.mkdir(`${dir}/plugins`);
  await Deno.writeTextFile(`${dir}/plugins/page-oncall.ts`, code[1]);
  return { dir, config };
}

Deno.test("the config example of docs/config.md parses", async () => {
  const page = await Deno.readTextFile(CONFIG);
  const block = /```toml\n([\s\S]*?)```/.exec(page);
  assert.ok(block, "docs/config.md has a TOML example");
  const config = resolveConfig(parseConfig(block[1], "docs/config.md"), { host: "h", stateDir: "/state" });
  assert.deepEqual(config.agent.topics, ["default", "builds"]);
  assert.equal(config.sinks.length, 2);
  assert.equal(config.store.max_events, 100_000);
});

Deno.test("every TOML example in the README and docs/ parses", async () => {
  const blocks = (await pages()).flatMap((page) =>
    [...page.matchAll(/```toml\n([\s\S]*?)```/g)].map((match) => match[1])
  );
  assert.ok(blocks.length >= 2);
  const { dir } = await pluginExample();
  try {
    // Read as if from a config file next to the example's plugins/ directory.
    for (const block of blocks) {
      resolveConfig(parseConfig(block, `${dir}/hark.toml`), { host: "h", stateDir: "/state" });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the example plugin of docs/plugins.md runs: an urgent build becomes an alert", async () => {
  const { dir, config } = await pluginExample();
  try {
    const [sinkConfig] =
      resolveConfig(parseConfig(config, `${dir}/hark.toml`), { host: "h", stateDir: "/state" }).sinks;
    const sent: EventDraft[] = [];
    const [sink] = await createSinks(sinkConfig, {
      publish: (draft) => {
        sent.push(draft);
        return Promise.resolve({ ...build, id: "01JDQ8ZC5V8Q0W3Z7M9N4T9999", topic: draft.topic! });
      },
    });
    const build: HarkEvent = {
      id: "01JDQ8ZC5V8Q0W3Z7M9N4T0001",
      topic: "builds",
      title: "main #812",
      body: "",
      priority: 5,
      tags: [],
      time: "2026-12-06T12:00:00.000Z",
      source: { host: "ci-01", peer: "12D3KooWTest" },
    };
    try {
      await sink.deliver(build, { signal: new AbortController().signal });
    } finally {
      await sink.close();
    }
    assert.deepEqual(sent, [{ topic: "alerts", title: "build broke: main #812", priority: 5 }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The Layout block: each line names paths, and a line that starts with a directory names files inside it. */
async function layoutBlock(): Promise<string[]> {
  const page = await Deno.readTextFile(LAYOUT);
  const block = /^# Layout\n[\s\S]*?```\n([\s\S]*?)```/.exec(page);
  assert.ok(block, "docs/layout.md has a Layout block");
  return block[1].split("\n");
}

const ROOT = new URL("../", import.meta.url);

async function existsUnder(dir: string, pattern: RegExp): Promise<boolean> {
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
    if (pattern.test(entry.name)) return true;
    if (entry.isDirectory && await existsUnder(`${dir}${entry.name}/`, pattern)) return true;
  }
  return false;
}

function globPattern(name: string): RegExp {
  return new RegExp(`^${name.replaceAll(".", "\\.").replaceAll("*", "[a-z_]+")}$`);
}

Deno.test("every file and directory docs/layout.md names exists", async () => {
  let dir = "";
  const missing: string[] = [];
  for (const line of await layoutBlock()) {
    const first = /^(\S+\/)\s/.exec(line);
    if (first) dir = first[1];
    else if (/^\S/.test(line)) dir = "";
    // Paths from the top (lib/mesh/, main.ts) and bare file names inside the line's directory (watch_follow.ts).
    for (const [token] of line.matchAll(/[\w.*-]+(?:\/[\w.*-]*)*/g)) {
      if (/^(lib|sinks|tests|\.ci)\//.test(token) || token === "main.ts") {
        const path = token.replace(/\/$/, "");
        if (!await Deno.stat(new URL(path, ROOT)).then(() => true, () => false)) missing.push(token);
      } else if (/^[\w*]+\.ts$/.test(token) && dir !== "") {
        if (!await existsUnder(dir, globPattern(token))) missing.push(`${dir}…/${token}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("docs/layout.md names every directory of lib/ and every file at its root", async () => {
  const text = (await layoutBlock()).join("\n");
  const unnamed: string[] = [];
  for await (const entry of Deno.readDir(new URL("lib/", ROOT))) {
    const path = `lib/${entry.name}${entry.isDirectory ? "/" : ""}`;
    if (entry.name.endsWith("_test.ts")) continue;
    if (!text.includes(path)) unnamed.push(path);
  }
  assert.deepEqual(unnamed.sort(), []);
});
