import assert from "node:assert/strict";
import { MinHeap } from "./min_heap.ts";

Deno.test("MinHeap gives items back smallest first, whatever order they went in", () => {
  const heap = new MinHeap<number>((a, b) => a < b);
  const input = [5, 3, 9, 1, 7, 3, 8, 2, 6, 4, 0];
  for (const n of input) heap.push(n);
  assert.equal(heap.peek(), 0);
  const out: number[] = [];
  while (heap.size > 0) out.push(heap.pop()!);
  assert.deepEqual(out, [...input].sort((a, b) => a - b));
  assert.equal(heap.pop(), undefined);
});
