import assert from "node:assert/strict";
import { FORGET_AFTER_MS, MAX_REMEMBERED, PeerBook, PEERS_FILE } from "./peer_book.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hark-book-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("remembered peers survive a restart, newest first, private to the owner", () =>
  withDir(async (dir) => {
    const book = await PeerBook.load(dir, "net");
    book.remember("peer-a", ["/ip4/198.18.1.1/tcp/4001", "/ip4/198.18.1.1/tcp/4001"], 1000);
    book.remember("peer-b", ["/ip4/198.18.1.2/tcp/4001"], 2000);
    await book.close();
    const again = await PeerBook.load(dir, "net", 3000);
    assert.deepEqual(again.peers, [
      { peer: "peer-b", addresses: ["/ip4/198.18.1.2/tcp/4001"], seen: 2000 },
      { peer: "peer-a", addresses: ["/ip4/198.18.1.1/tcp/4001"], seen: 1000 },
    ]);
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(`${dir}/${PEERS_FILE}`)).mode! & 0o777, 0o600);
  }));

Deno.test("a new address replaces the old one; peers gone for 30 days are forgotten", () =>
  withDir(async (dir) => {
    const book = await PeerBook.load(dir, "net");
    book.remember("moved", ["/ip4/198.18.1.11/tcp/4001"], 0);
    book.remember("moved", ["/ip4/198.18.1.21/tcp/4001"], 1);
    book.remember("gone", ["/ip4/198.18.1.12/tcp/4001"], 0);
    book.remember("nowhere", [], 5);
    await book.flush();
    assert.deepEqual(book.get("moved")?.addresses, ["/ip4/198.18.1.21/tcp/4001"]);
    assert.equal(book.get("nowhere"), undefined, "a peer with no address is of no use later");
    const later = await PeerBook.load(dir, "net", FORGET_AFTER_MS + 0.5);
    assert.deepEqual(later.peers.map((p) => p.peer), ["moved"]);
  }));

Deno.test("the book keeps the most recently seen peers when it is full", () =>
  withDir(async (dir) => {
    const book = await PeerBook.load(dir, "net");
    for (let i = 0; i <= MAX_REMEMBERED; i++) book.remember(`peer-${i}`, ["/ip4/198.18.1.1/tcp/4001"], i);
    book.remember("peer-1", ["/ip4/198.18.1.1/tcp/4001"], 10_000);
    book.remember("extra", ["/ip4/198.18.1.1/tcp/4001"], 10_001);
    await book.close();
    const peers = (await PeerBook.load(dir, "net", 10_002)).peers.map((p) => p.peer);
    assert.equal(peers.length, MAX_REMEMBERED);
    assert.deepEqual(peers.slice(0, 2), ["extra", "peer-1"]);
    assert.ok(!peers.includes("peer-0") && !peers.includes("peer-2"), "the two seen longest ago made room");
  }));

Deno.test("another network's book, or a damaged one, starts empty instead of failing", () =>
  withDir(async (dir) => {
    const book = await PeerBook.load(dir, "old-net");
    book.remember("peer-a", ["/ip4/198.18.1.1/tcp/4001"]);
    await book.close();
    assert.deepEqual((await PeerBook.load(dir, "new-net")).peers, []);
    for (const text of ["{not json", "[]", '{"network":"net","peers":[{"peer":5}]}', '{"network":"net","peers":7}']) {
      await Deno.writeTextFile(`${dir}/${PEERS_FILE}`, text);
      assert.deepEqual((await PeerBook.load(dir, "net")).peers, [], text);
    }
  }));
