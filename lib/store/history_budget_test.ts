import assert from "node:assert/strict";
import { HistoryBudget, HistoryBusyError } from "./history_budget.ts";

Deno.test("HistoryBudget.take() grants while bytes fit, then queues readers first come first served", async () => {
  const budget = new HistoryBudget({ bytes: 100, waitMs: 5_000 });
  const first = await budget.take(60);
  const order: string[] = [];
  const second = budget.take(60).then((release) => (order.push("second"), release));
  // Fits on its own, but waits behind the second: nobody overtakes a waiting reader.
  const third = budget.take(10).then((release) => (order.push("third"), release));
  await Promise.resolve();
  assert.deepEqual(order, []);
  assert.equal(budget.held, 60);
  first();
  first(); // Idempotent: giving back twice frees the bytes once.
  (await second)();
  (await third)();
  assert.deepEqual(order, ["second", "third"]);
  assert.equal(budget.held, 0);
});

Deno.test("HistoryBudget.take() lets a page larger than the budget through alone", async () => {
  const budget = new HistoryBudget({ bytes: 100 });
  const release = await budget.take(1_000);
  assert.equal(budget.held, 1_000);
  release();
});

Deno.test("HistoryBudget.take() refuses after waiting its longest, and on abort; a patient reader waits on", async () => {
  const budget = new HistoryBudget({ bytes: 10, waitMs: 30 });
  const held = await budget.take(10);
  await assert.rejects(budget.take(5), (error: Error) => {
    assert.ok(error instanceof HistoryBusyError);
    assert.match(error.message, /busy sending stored events to other clients .* try again shortly/);
    return true;
  });
  const aborted = new AbortController();
  const waiting = budget.take(5, aborted.signal);
  aborted.abort(new Error("client went away"));
  await assert.rejects(waiting, /client went away/);
  const patient = budget.take(5, undefined, Infinity);
  held();
  (await patient)();
  assert.equal(budget.held, 0);
});
