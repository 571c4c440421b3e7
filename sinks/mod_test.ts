import assert from "node:assert/strict";
import { parseConfig, resolveConfig } from "../lib/config/config.ts";
import { createSinks } from "./mod.ts";

Deno.test("createSinks() makes one plugin per .ts, .js or .mjs file of a plugins directory, in name order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark-plugins-dir-" });
  try {
    await Deno.mkdir(`${dir}/plugins`);
    for (const name of ["b.js", "a.ts", "c.mjs", "notes.txt"]) await Deno.writeTextFile(`${dir}/plugins/${name}`, "");
    await Deno.mkdir(`${dir}/plugins/lib.ts`);
    const layer = parseConfig(`[[sink]]\ntype = "plugin"\nplugins = "plugins"\n`, `${dir}/hark.toml`);
    const [config] = resolveConfig(layer, { host: "h", stateDir: "/state" }).sinks;
    const sinks = await createSinks(config, { publish: () => Promise.reject(new Error("not in this test")) });
    assert.deepEqual(sinks.map((sink) => sink.name), [
      `plugin:${dir}/plugins/a.ts`,
      `plugin:${dir}/plugins/b.js`,
      `plugin:${dir}/plugins/c.mjs`,
    ]);
    await Promise.all(sinks.map((sink) => sink.close()));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
