import assert from "node:assert/strict";
import { AddressWatch, hostAddresses } from "./address_watch.ts";

Deno.test("a changed host address is reported once, with what appeared and what went away", () => {
  let addresses = ["198.18.1.11", "198.18.9.1"];
  const changes: [string[], string[]][] = [];
  const watch = new AddressWatch({
    onChange: (added, removed) => changes.push([added, removed]),
    read: () => addresses,
    intervalMs: 3_600_000,
  });
  watch.start();
  watch.start();
  try {
    watch.check();
    assert.deepEqual(changes, [], "nothing changed");
    addresses = ["198.18.1.21", "198.18.9.1"];
    watch.check();
    watch.check();
    assert.deepEqual(changes, [[["198.18.1.21"], ["198.18.1.11"]]]);
  } finally {
    watch.stop();
    watch.stop();
  }
});

Deno.test("the host's addresses leave out loopback and link-local ones", () => {
  const all = Deno.networkInterfaces().map((i) => i.address);
  assert.ok(all.includes("127.0.0.1"), "this host has loopback");
  const kept = hostAddresses();
  assert.ok(!kept.includes("127.0.0.1") && !kept.includes("::1"));
  assert.ok(kept.every((address) => !address.toLowerCase().startsWith("fe80:")));
  assert.deepEqual(kept, all.filter((a) => a !== "127.0.0.1" && a !== "::1" && !a.toLowerCase().startsWith("fe80:")));
});
