/**
 * Remembers the most recent event ids, so an event that reaches an agent
 * twice (two paths through the mesh, a publisher retrying) is delivered once.
 * Bounded: the oldest ids are forgotten first.
 */
export class SeenIds {
  #ids = new Set<string>();
  #capacity: number;

  constructor(capacity = 100_000) {
    this.#capacity = capacity;
  }

  /** Records `id`; returns false if it was already there. */
  add(id: string): boolean {
    if (this.#ids.has(id)) return false;
    this.#ids.add(id);
    if (this.#ids.size > this.#capacity) {
      // Sets iterate in insertion order, so the first entry is the oldest.
      this.#ids.delete(this.#ids.values().next().value!);
    }
    return true;
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }
}
