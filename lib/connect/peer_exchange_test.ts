/**
 * Peer exchange (`/hark/peers/1.0.0`): an agent configured with one member
 * ends up connected to the others, and a member answering with lies cannot
 * plant addresses for identities it does not hold, nor break the asker.
 *
 * The answer is one length-prefixed JSON frame of base64 signed peer
 * records; a hostile peer here re-registers the protocol handler on its own
 * node and answers with frames crafted below.
 */

import assert from "node:assert/strict";
import {
  generateKeyPair,
  lpStream,
  multiaddr,
  peerIdFromPrivateKey,
  PeerRecord,
  RecordEnvelope,
} from "../mesh/libp2p.ts";
import type { Libp2p, PeerId, PrivateKey } from "@libp2p/interface";
import { startMesh, type TestMesh } from "../../tests/helpers/mesh.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { type ExchangeNode, link, startExchangeNode } from "../../tests/helpers/exchange_node.ts";
import { PEER_EXCHANGE_PROTOCOL, PeerExchange } from "./peer_exchange.ts";

function mesh(peers: string[] = [], privateKey?: PrivateKey): Promise<TestMesh> {
  return startMesh({ peers, privateKey });
}

/** Makes `node` answer every peer-exchange request with `frame(asker)`. */
async function answerWith(node: Libp2p, frame: (asker: PeerId) => Uint8Array): Promise<void> {
  await node.handle(PEER_EXCHANGE_PROTOCOL, async (stream, connection) => {
    try {
      await lpStream(stream).write(frame(connection.remotePeer), { signal: AbortSignal.timeout(5000) });
      await stream.close({ signal: AbortSignal.timeout(5000) });
    } catch (error) {
      stream.abort(error as Error);
    }
  }, { force: true, runOnLimitedConnection: true });
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function connected(node: Libp2p, peer: string | PeerId): boolean {
  return node.getConnections().some((c) => c.remotePeer.toString() === peer.toString());
}

/** Whether `node`'s peer store holds any address for `peer`. */
async function hasAddresses(node: Libp2p, peer: PeerId): Promise<boolean> {
  try {
    return (await node.peerStore.get(peer)).addresses.length > 0;
  } catch (error) {
    assert.equal((error as Error).name, "NotFoundError");
    return false;
  }
}

async function sealed(key: PrivateKey, peerId: PeerId): Promise<Uint8Array> {
  const record = new PeerRecord({ peerId, multiaddrs: [multiaddr("/ip4/127.0.0.1/tcp/1")] });
  return (await RecordEnvelope.seal(record, key)).marshal();
}

Deno.test("two agents that know only a third connect to each other through peer exchange", async () => {
  const a = await mesh();
  const meshes = [a];
  try {
    const b = await mesh(a.listenAddresses());
    meshes.push(b);
    // A holds B's signed record before C asks, so A's answer to C names B.
    await waitFor(async () => (await a.node.peerStore.get(b.node.peerId)).peerRecordEnvelope, {
      message: "a to identify b",
    });
    const c = await mesh(a.listenAddresses());
    meshes.push(c);
    assert.ok(a.listenAddresses().every((address) => !address.includes(c.peerId)), "b was given only a's address");

    const entries = await waitFor(async () => {
      const bForC = (await b.peers()).find((p) => p.peer === c.peerId);
      const cForB = (await c.peers()).find((p) => p.peer === b.peerId);
      // One of them dialed the other with what the exchange taught it.
      return bForC && cForB && [bForC.origin, cForB.origin].includes("exchange") && { bForC, cForB };
    }, { timeoutMs: 20_000, message: "b and c to connect through peer exchange" });
    assert.ok(["exchange", "inbound"].includes(entries.bForC.origin), entries.bForC.origin);
    assert.equal(entries.bForC.connection, "direct");
  } finally {
    for (const m of meshes.reverse()) await m.stop();
  }
});

Deno.test("bad records in an answer are dropped, the good one is dialed", async () => {
  const v = await mesh();
  const meshes = [v];
  try {
    const h = await mesh(v.listenAddresses());
    meshes.push(h);
    const vRecord = await waitFor(async () => (await h.node.peerStore.get(v.node.peerId)).peerRecordEnvelope, {
      message: "h to hold v's signed record",
    });

    // Tampered: a record T signed of itself, with a byte of the signed payload flipped.
    const tKey = await generateKeyPair("Ed25519");
    const tId = peerIdFromPrivateKey(tKey);
    const tampered = await sealed(tKey, tId);
    const payload = RecordEnvelope.createFromProtobuf(tampered).payload;
    const at = tampered.findIndex((_, i) => payload.every((byte, j) => tampered[i + j] === byte));
    assert.ok(at >= 0);
    tampered[at + payload.length - 1] ^= 0x01;
    // Forged: signed with K1's key, claiming to be K2.
    const k1Key = await generateKeyPair("Ed25519");
    const k1Id = peerIdFromPrivateKey(k1Key);
    const k2Id = peerIdFromPrivateKey(await generateKeyPair("Ed25519"));
    const forged = await sealed(k1Key, k2Id);

    // Until armed, H answers with nothing, so the asker's own exchange on
    // identify learns nothing and the call below is the one that dials V.
    let armed = false;
    let asked = 0;
    const askerKey = await generateKeyPair("Ed25519");
    const askerId = peerIdFromPrivateKey(askerKey);
    await answerWith(h.node, (asker) => {
      if (!askerId.equals(asker)) return json({ records: [] });
      asked++;
      if (!armed) return json({ records: [] });
      armed = false;
      return json({
        records: [vRecord.toBase64(), tampered.toBase64(), forged.toBase64(), "not base64 at all!", 42],
      });
    });

    const asker = await mesh(h.listenAddresses(), askerKey);
    meshes.push(asker);
    await waitFor(() => asked > 0, { message: "the asker's own exchange with h on identify" });
    assert.ok(!connected(asker.node, v.peerId), "the asker does not know v yet");

    armed = true;
    // Every peer the asker tries to dial, to show the forged ones are not even tried.
    const dialed: string[] = [];
    const dial = asker.node.dial.bind(asker.node);
    asker.node.dial = (target, options) => {
      dialed.push(target.toString());
      return dial(target, options);
    };
    const connectedCount = await new PeerExchange(asker.node, { wanted: 8 }).exchange(h.node.peerId);
    assert.deepEqual(dialed, [v.peerId], "only v's record holds up");
    assert.equal(connectedCount, 1);
    assert.ok(connected(asker.node, v.peerId), "the asker dialed v");
    assert.ok(connected(asker.node, h.peerId), "the asker stays connected to h");
    for (const id of [tId, k1Id, k2Id]) {
      assert.equal(await hasAddresses(asker.node, id), false, `no addresses stored for ${id}`);
    }
  } finally {
    for (const m of meshes.reverse()) await m.stop();
  }
});

Deno.test("an answer with too many records or not JSON is refused, and the asker's connections stay", async () => {
  const o = await mesh();
  const h = await mesh();
  const meshes = [o, h];
  try {
    let answer = json({ records: Array.from({ length: 33 }, (_, i) => `record${i}`) });
    await answerWith(h.node, () => answer);
    const asker = await mesh([...h.listenAddresses(), ...o.listenAddresses()]);
    meshes.push(asker);
    await waitFor(() => connected(asker.node, h.peerId) && connected(asker.node, o.peerId), {
      message: "the asker to connect to h and o",
    });

    const exchange = new PeerExchange(asker.node, { wanted: 8 });
    await assert.rejects(exchange.exchange(h.node.peerId), /malformed peer list/);
    answer = new TextEncoder().encode("{ not json");
    await assert.rejects(exchange.exchange(h.node.peerId), SyntaxError);

    assert.ok(connected(asker.node, h.peerId), "the asker stays connected to h");
    assert.ok(connected(asker.node, o.peerId), "the asker stays connected to o");
    await asker.node.services.ping.ping(o.node.peerId, { signal: AbortSignal.timeout(5000) });
  } finally {
    for (const m of meshes.reverse()) await m.stop();
  }
});

Deno.test("a hub answers each asker with a random sample of its peers, not always the same ones", async () => {
  const nodes: ExchangeNode[] = [];
  try {
    // Answers of 4 records from a hub with 12 other peers: three answers naming
    // the same 4 each time would be one chance in 495² if drawn at random.
    const hub = await startExchangeNode({ answerSize: 4 });
    nodes.push(hub);
    for (let i = 0; i < 12; i++) {
      const member = await startExchangeNode();
      nodes.push(member);
      await link(member, hub);
    }
    const asker = await startExchangeNode();
    nodes.push(asker);
    await link(asker, hub);

    const named = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const answer = await asker.exchange.ask(hub.node.peerId);
      assert.equal(answer.length, 4);
      assert.ok(answer.every((peer) => !peer.equals(asker.node.peerId)), "the asker is never named to itself");
      for (const peer of answer) named.add(peer.toString());
    }
    assert.ok(named.size > 4, `three answers named ${named.size} members`);
  } finally {
    for (const node of nodes.reverse()) await node[Symbol.asyncDispose]();
  }
});
