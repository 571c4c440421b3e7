import assert from "node:assert/strict";
import { GOSSIPSUB_VERSION, LIBP2P_VERSION, VERSION, versionLine } from "./version.ts";

Deno.test("the libp2p versions hark reports are the ones deno.json pins", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(config.imports["libp2p"], `npm:libp2p@${LIBP2P_VERSION}`);
  assert.equal(config.imports["@libp2p/gossipsub"], `npm:@libp2p/gossipsub@${GOSSIPSUB_VERSION}`);
  assert.match(
    versionLine(),
    /^hark \d+\.\d+\.\d+ \(libp2p 3\.\d+\.\d+, gossipsub 17\.\d+\.\d+, deno \d+\.\d+\.\d+\)$/,
  );
});

Deno.test("hark's own version is the one deno.json declares (the release tag must match both)", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(VERSION, config.version);
});
