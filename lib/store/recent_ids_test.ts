import assert from "node:assert/strict";
import { RecentIds } from "./recent_ids.ts";

Deno.test("RecentIds.add() knows a copy by its id, and forgets the oldest beyond its capacity", () => {
  const ids = new RecentIds(3);
  assert.equal(ids.add("a"), true);
  assert.equal(ids.add("a"), false, "a copy");
  for (const id of ["b", "c", "d"]) assert.equal(ids.add(id), true);
  assert.equal(ids.size, 3, "bounded");
  assert.equal(ids.add("b"), false, "still remembered");
  assert.equal(ids.add("a"), true, "the oldest was forgotten");
});
