import assert from "node:assert/strict";
import { connectionsLine } from "./info.ts";

Deno.test("the peers line says how connections were let go, and links dropped for an unanswered ping", () => {
  const held = { peers: 12, max: 64, low: 48, trimmed: 3 };
  assert.equal(connectionsLine(held), "12 connected (max_connections 64, dials up to 48; 3 let go since start)");
  assert.equal(
    connectionsLine({ ...held, unanswered: 2 }),
    "12 connected (max_connections 64, dials up to 48; 3 let go since start; 2 dropped for an unanswered ping)",
  );
  assert.equal(
    connectionsLine({ ...held, target: 30 }),
    "12 connected (max_connections 64, dials up to 30 (48 once peers have room); 3 let go since start)",
  );
  assert.equal(
    connectionsLine({ ...held, max: null, low: null, unanswered: 1 }),
    "12 connected (no max_connections; 1 dropped for an unanswered ping)",
  );
});
