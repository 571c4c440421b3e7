/**
 * A binary min-heap: the smallest item first in O(log n) per push and pop,
 * for a single timer that must always know its next deadline
 * (lib/notifications/escalator.ts).
 */
export class MinHeap<T> {
  #items: T[] = [];
  #before: (a: T, b: T) => boolean;

  /** `before(a, b)`: whether `a` comes out before `b`. */
  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let at = items.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.#before(items[at], items[parent])) break;
      [items[at], items[parent]] = [items[parent], items[at]];
      at = parent;
    }
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1, right = left + 1;
      let first = at;
      if (left < items.length && this.#before(items[left], items[first])) first = left;
      if (right < items.length && this.#before(items[right], items[first])) first = right;
      if (first === at) break;
      [items[at], items[first]] = [items[first], items[at]];
      at = first;
    }
    return top;
  }

  clear(): void {
    this.#items = [];
  }
}
