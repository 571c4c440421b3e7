import assert from "node:assert/strict";
import { ConfigError, HarkError } from "../errors.ts";
import {
  decodeToken,
  encodeToken,
  KEY_FILE,
  loadNetwork,
  mdnsServiceTag,
  type Network,
  NETWORK_FILE,
  newNetwork,
  saveNetwork,
  swarmKey,
} from "./network.ts";
import { inDir } from "../config/paths.ts";

const POSIX = Deno.build.os !== "windows";
const encoder = new TextEncoder();

/** A fixed secret 00 01 02 … 1f, so expected texts can be written out. */
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const SECRET_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

function network(init: Partial<Network> = {}): Network {
  return { name: "office", secret: SECRET.slice(), peers: [], ...init };
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** `hark1:` + base64url of arbitrary bytes, to build damaged tokens. */
function tokenOf(payload: string | Uint8Array): string {
  const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
  const base64 = btoa(String.fromCharCode(...bytes));
  return "hark1:" + base64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Runs `fn` with a fresh temp dir and removes it afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hark-network-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function assertRejectsWith(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => Error,
  message: RegExp,
): Promise<void> {
  await assert.rejects(fn, (error) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("newNetwork() makes a random 32-byte secret and a default name", () => {
  const a = newNetwork();
  const b = newNetwork();
  assert.equal(a.secret.length, 32);
  assert.equal(b.secret.length, 32);
  assert.notDeepEqual(a.secret, b.secret, "each network gets its own key");
  assert.notDeepEqual(a.secret, new Uint8Array(32), "the key is not all zeros");
  assert.match(a.name, /^net-[0-9a-f]{8}$/);
  assert.match(b.name, /^net-[0-9a-f]{8}$/);
  assert.deepEqual(a.peers, []);
  const hex = Array.from(a.secret, (byte) => byte.toString(16).padStart(2, "0")).join("");
  assert.ok(!hex.includes(a.name.slice(4)), "the name, which is shared, holds no part of the key");
});

Deno.test("newNetwork() uses a given name", async (t) => {
  for (const name of ["office", "home.lan", "ci_builds-2", "A", "x".repeat(64)]) {
    await t.step(name.length > 20 ? `${name.length} characters` : name, () => {
      const created = newNetwork(name);
      assert.equal(created.name, name);
      assert.equal(created.secret.length, 32);
      assert.deepEqual(created.peers, []);
    });
  }
});

Deno.test("newNetwork() rejects invalid names", async (t) => {
  const cases: [string, string][] = [
    ["empty", ""],
    ["space", "my network"],
    ["slash", "a/b"],
    ["colon", "net:1"],
    ["non-ASCII", "büro"],
    ["65 characters", "x".repeat(65)],
    ["newline", "office\n"],
  ];
  for (const [what, name] of cases) {
    await t.step(what, () => {
      assert.throws(() => newNetwork(name), (error) => {
        assert.ok(error instanceof HarkError, `expected HarkError, got ${error}`);
        assert.match(error.message, /^invalid network name/);
        return true;
      });
    });
  }
});

Deno.test("swarmKey() writes the libp2p swarm-key format in base16", () => {
  const text = new TextDecoder().decode(swarmKey(network()));
  assert.equal(text, `/key/swarm/psk/1.0.0/\n/base16/\n${SECRET_HEX}`);
  const random = new TextDecoder().decode(swarmKey(newNetwork()));
  assert.match(random, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/);
});

Deno.test("encodeToken() and decodeToken() round-trip name, key and addresses", async (t) => {
  const cases: [string, Network, string[]][] = [
    ["no addresses", network(), []],
    [
      "several addresses",
      network({ name: "home.lan_2-b" }),
      [
        "/ip4/192.168.1.20/tcp/4001/p2p/12D3KooWGzh6Zr2f4bA5hXW6x3Fq5p8X9JdVt3n1z8sWb2Hc4mPq",
        "/ip6/::1/tcp/4001",
        "/dns4/gw.example.org/tcp/4001",
      ],
    ],
    // 0xff and 0xfb bytes produce "/" and "+" in plain base64.
    ["bytes that need URL-safe base64", network({ secret: new Uint8Array(32).fill(0xfb) }), ["/ip4/10.0.0.1/tcp/1"]],
    ["all 0xff key", network({ secret: new Uint8Array(32).fill(0xff) }), []],
    ["random key", newNetwork(), ["/ip4/127.0.0.1/tcp/4001"]],
    ["non-ASCII address text", network(), ["/dns4/bücher.example/tcp/4001"]],
  ];
  for (const [what, original, addresses] of cases) {
    await t.step(what, () => {
      const token = encodeToken(original, addresses);
      assert.match(token, /^hark1:[A-Za-z0-9_-]+$/, "one line of URL-safe characters");
      const decoded = decodeToken(token);
      assert.deepEqual(decoded, { name: original.name, secret: original.secret, peers: addresses });
      assert.ok(decoded.secret instanceof Uint8Array);
    });
  }
});

Deno.test("decodeToken() accepts a token with surrounding whitespace", () => {
  const token = encodeToken(network(), ["/ip4/10.0.0.1/tcp/4001"]);
  assert.deepEqual(decodeToken(`  ${token}\n`), network({ peers: ["/ip4/10.0.0.1/tcp/4001"] }));
});

Deno.test("decodeToken() rejects damaged tokens with HarkError", async (t) => {
  const good = encodeToken(network(), ["/ip4/10.0.0.1/tcp/4001"]);
  const fields = (value: Record<string, unknown>) =>
    tokenOf(JSON.stringify({ n: "office", k: SECRET_HEX, a: [], ...value }));
  const cases: [string, string, RegExp][] = [
    ["empty", "", /does not start with "hark1:"/],
    ["no prefix", good.slice("hark1:".length), /does not start with "hark1:"/],
    ["other prefix", good.replace("hark1:", "hark2:"), /does not start with "hark1:"/],
    ["damaged base64", "hark1:!!!not-base64!!!", /damaged or cut short/],
    ["cut short", good.slice(0, -10), /damaged or cut short/],
    ["invalid JSON", tokenOf("{not json"), /damaged or cut short/],
    ["JSON null", tokenOf("null"), /damaged or cut short/],
    ["JSON list", tokenOf("[1]"), /damaged or cut short/],
    ["invalid UTF-8", tokenOf(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), /damaged or cut short/],
    ["missing key", tokenOf(JSON.stringify({ n: "office", a: [] })), /no valid key/],
    ["short key", fields({ k: SECRET_HEX.slice(2) }), /no valid key/],
    ["long key", fields({ k: SECRET_HEX + "00" }), /no valid key/],
    ["non-hex key", fields({ k: "zz" + SECRET_HEX.slice(2) }), /no valid key/],
    ["key as a number", fields({ k: 12 }), /no valid key/],
    ["missing name", tokenOf(JSON.stringify({ k: SECRET_HEX, a: [] })), /no valid network name/],
    ["bad name", fields({ n: "my network" }), /no valid network name/],
    ["name as a number", fields({ n: 7 }), /no valid network name/],
    ["missing addresses", tokenOf(JSON.stringify({ n: "office", k: SECRET_HEX })), /not a list of strings/],
    ["addresses not a list", fields({ a: "/ip4/10.0.0.1/tcp/4001" }), /not a list of strings/],
    ["non-string address", fields({ a: ["/ip4/10.0.0.1/tcp/4001", 4001] }), /not a list of strings/],
    ["null address", fields({ a: [null] }), /not a list of strings/],
  ];
  for (const [what, token, why] of cases) {
    await t.step(what, () => {
      assert.throws(() => decodeToken(token), (error) => {
        assert.ok(error instanceof HarkError, `expected HarkError, got ${error}`);
        assert.match(error.message, /^invalid join token/);
        assert.match(error.message, why);
        return true;
      });
    });
  }
});

Deno.test("saveNetwork() and loadNetwork() round-trip a network in private files", async () => {
  await withTempDir(async (dir) => {
    const saved = network({ name: "home.lan", peers: ["/ip4/10.0.0.1/tcp/4001", "/dns4/gw.example.org/tcp/4001"] });
    await saveNetwork(dir, saved);
    assert.deepEqual(await loadNetwork(dir), saved);
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names.sort(), [KEY_FILE, NETWORK_FILE].sort(), "no temporary files are left");
    assert.equal(await Deno.readTextFile(inDir(dir, KEY_FILE)), new TextDecoder().decode(swarmKey(saved)));
    if (POSIX) {
      for (const name of [KEY_FILE, NETWORK_FILE]) {
        const { mode } = await Deno.stat(inDir(dir, name));
        assert.equal(mode! & 0o777, 0o600, `${name} mode`);
      }
    }
  });
});

Deno.test("saveNetwork() replaces a saved network", async () => {
  await withTempDir(async (dir) => {
    await saveNetwork(dir, network({ peers: ["/ip4/10.0.0.1/tcp/4001"] }));
    const replacement = newNetwork("other");
    await saveNetwork(dir, replacement);
    assert.deepEqual(await loadNetwork(dir), replacement);
  });
});

Deno.test("loadNetwork() returns undefined when there is no key", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("empty state dir", async () => {
      assert.equal(await loadNetwork(dir), undefined);
    });
    await t.step("missing state dir", async () => {
      assert.equal(await loadNetwork(inDir(dir, "missing")), undefined);
    });
  });
});

Deno.test("loadNetwork() falls back to defaults without network.json", async () => {
  await withTempDir(async (dir) => {
    await saveNetwork(dir, network({ peers: ["/ip4/10.0.0.1/tcp/4001"] }));
    await Deno.remove(inDir(dir, NETWORK_FILE));
    assert.deepEqual(await loadNetwork(dir), { name: "unnamed", secret: SECRET, peers: [] });
  });
});

Deno.test("loadNetwork() refuses a key file that other users can read", { ignore: !POSIX }, async () => {
  await withTempDir(async (dir) => {
    await saveNetwork(dir, network());
    const keyPath = inDir(dir, KEY_FILE);
    await Deno.chmod(keyPath, 0o644);
    await assertRejectsWith(() => loadNetwork(dir), HarkError, /readable by other users \(mode 644\)/);
    await assertRejectsWith(() => loadNetwork(dir), HarkError, /chmod 600/);
    await Deno.chmod(keyPath, 0o600);
    assert.deepEqual(await loadNetwork(dir), network());
  });
});

Deno.test("loadNetwork() rejects a key file that is not a swarm key", async (t) => {
  const cases: [string, string][] = [
    ["empty", ""],
    ["plain text", "hello"],
    ["bare hex", SECRET_HEX],
    ["base64 swarm key", `/key/swarm/psk/1.0.0/\n/base64/\n${btoa(String.fromCharCode(...SECRET))}`],
    ["short hex", `/key/swarm/psk/1.0.0/\n/base16/\n${SECRET_HEX.slice(2)}`],
    ["non-hex", `/key/swarm/psk/1.0.0/\n/base16/\n${"g".repeat(64)}`],
  ];
  for (const [what, text] of cases) {
    await t.step(what, async () => {
      await withTempDir(async (dir) => {
        await Deno.writeTextFile(inDir(dir, KEY_FILE), text, { mode: 0o600 });
        await assertRejectsWith(() => loadNetwork(dir), ConfigError, /is not a swarm key/);
      });
    });
  }
});

Deno.test("loadNetwork() accepts a swarm key with a trailing newline", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(inDir(dir, KEY_FILE), `/key/swarm/psk/1.0.0/\n/base16/\n${SECRET_HEX}\n`, { mode: 0o600 });
    assert.deepEqual((await loadNetwork(dir))?.secret, SECRET);
  });
});

Deno.test("loadNetwork() rejects a damaged network.json with ConfigError", async () => {
  await withTempDir(async (dir) => {
    await saveNetwork(dir, network());
    await Deno.writeTextFile(inDir(dir, NETWORK_FILE), "{ not json", { mode: 0o600 });
    await assertRejectsWith(() => loadNetwork(dir), ConfigError, /Cannot read ".*network\.json"/);
    await Deno.writeTextFile(inDir(dir, NETWORK_FILE), "null", { mode: 0o600 });
    await assertRejectsWith(() => loadNetwork(dir), ConfigError, /network\.json" is not a JSON object/);
  });
});

Deno.test("mdnsServiceTag() is stable per key and reveals nothing of it", async () => {
  const tag = await mdnsServiceTag(network());
  assert.match(tag, /^_hark-[0-9a-f]{12}\._udp\.local$/);
  assert.equal(await mdnsServiceTag(network()), tag, "stable for the same key");
  assert.equal(
    await mdnsServiceTag(network({ name: "other", peers: ["/ip4/10.0.0.1/tcp/4001"] })),
    tag,
    "depends on the key only",
  );
  const otherKey = SECRET.slice();
  otherKey[31] ^= 1;
  assert.notEqual(await mdnsServiceTag(network({ secret: otherKey })), tag, "differs for another key");

  for (const secret of [SECRET, newNetwork().secret, newNetwork().secret]) {
    const hex = toHex(secret);
    const secretTag = await mdnsServiceTag(network({ secret }));
    assert.ok(!secretTag.includes(hex), "no whole key");
    // No 4-byte run of the key appears either.
    for (let i = 0; i + 8 <= hex.length; i += 2) {
      assert.ok(!secretTag.includes(hex.slice(i, i + 8)), `key bytes ${i / 2}..${i / 2 + 3} in ${secretTag}`);
    }
  }
});
