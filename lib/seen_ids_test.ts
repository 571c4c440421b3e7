import assert from "node:assert/strict";
import { SeenIds } from "./seen_ids.ts";

Deno.test("SeenIds.add() reports whether an id is new", async (t) => {
  const seen = new SeenIds();
  const cases: [string, boolean][] = [
    ["a", true],
    ["b", true],
    ["a", false],
    ["c", true],
    ["b", false],
    ["c", false],
  ];
  for (const [id, fresh] of cases) {
    await t.step(`${id} → ${fresh}`, () => {
      assert.equal(seen.add(id), fresh);
      assert.equal(seen.has(id), true);
    });
  }
});

Deno.test("SeenIds.has() does not record an id", () => {
  const seen = new SeenIds();
  assert.equal(seen.has("a"), false);
  assert.equal(seen.has("a"), false);
  assert.equal(seen.add("a"), true);
});

Deno.test("SeenIds.add() forgets the oldest id past capacity", () => {
  const seen = new SeenIds(3);
  for (const id of ["a", "b", "c"]) assert.equal(seen.add(id), true);
  assert.equal(seen.add("d"), true);
  assert.equal(seen.has("a"), false, "oldest forgotten");
  for (const id of ["b", "c", "d"]) assert.equal(seen.has(id), true);
  // A repeat does not refresh an id's age: b is still the oldest.
  assert.equal(seen.add("b"), false);
  assert.equal(seen.add("e"), true);
  assert.equal(seen.has("b"), false);
  for (const id of ["c", "d", "e"]) assert.equal(seen.has(id), true);
  // A forgotten id counts as new again.
  assert.equal(seen.add("a"), true);
  assert.equal(seen.has("c"), false);
});

Deno.test("SeenIds() keeps 100,000 ids by default", () => {
  const seen = new SeenIds();
  for (let i = 0; i < 100_000; i++) seen.add(`id-${i}`);
  assert.equal(seen.has("id-0"), true);
  seen.add("one more");
  assert.equal(seen.has("id-0"), false);
  assert.equal(seen.has("id-1"), true);
});
