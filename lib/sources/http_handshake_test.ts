/**
 * The http source's connection-level defences, spoken byte by byte over a raw
 * TCP socket, since a well-behaved client (curl, a browser) cannot break the
 * rules: the deadline on request heads (slowloris) and RFC 6455's WebSocket
 * handshake checks.
 */

import assert from "node:assert/strict";
import { HttpSource } from "./http.ts";

async function startSource(headTimeoutMs?: number) {
  const source = new HttpSource({
    headTimeoutMs,
    keepaliveMs: 1000,
    listen: "127.0.0.1:0",
    maxBodyBytes: 64 * 1024,
    publish: () => Promise.reject(new Error("no publishing in these tests")),
    feed: {
      topics: new Set(["mytopic"]),
      retentionMs: 86_400_000,
      follow: () => Promise.resolve(),
      // Nothing stored; live events are not needed here.
      read: () => ({
        pages: { next: () => Promise.resolve({ events: [], last: true, release: () => {} }) },
        stop: () => {},
      }),
    },
  });
  await source.start();
  const port = Number(source.address.split(":").at(-1));
  return { source, port, [Symbol.asyncDispose]: () => source.stop() };
}

/** Sends `request` and reads the reply's head: status code and headers. */
async function exchange(port: number, request: string): Promise<{ status: number; head: string }> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  let head = "";
  const buffer = new Uint8Array(4096);
  while (!head.includes("\r\n\r\n")) {
    const count = await conn.read(buffer);
    if (count === null) break;
    head += new TextDecoder().decode(buffer.subarray(0, count));
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), head: head.slice(0, head.indexOf("\r\n\r\n")) };
}

function upgrade(port: number, headers: Record<string, string>): string {
  const lines = Object.entries({
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    ...headers,
  }).map(([name, value]) => `${name}: ${value}\r\n`);
  return `GET /mytopic/ws HTTP/1.1\r\n${lines.join("")}\r\n`;
}

Deno.test("HttpSource checks the WebSocket handshake as RFC 6455 asks", async (t) => {
  await using ctx = await startSource();
  const cases: { name: string; headers: Record<string, string>; status: number; head?: RegExp }[] = [
    {
      name: "version 99 and a bad key: 426, naming version 13",
      headers: { "Sec-WebSocket-Version": "99", "Sec-WebSocket-Key": "not a key" },
      status: 426,
      head: /\r\nsec-websocket-version: 13(\r\n|$)/i,
    },
    {
      name: "no version",
      headers: { "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" },
      status: 426,
    },
    {
      name: "version 13 and a key that is not base64",
      headers: { "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "not a key" },
      status: 400,
    },
    {
      name: "version 13 and a key of 15 bytes",
      headers: { "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAA" },
      status: 400,
    },
    {
      name: "version 13 and no key",
      headers: { "Sec-WebSocket-Version": "13" },
      status: 400,
    },
    {
      name: "version 13 and RFC 6455's sample key: 101",
      headers: { "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" },
      status: 101,
      head: /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=(\r\n|$)/i,
    },
  ];
  for (const { name, headers, status, head } of cases) {
    await t.step(name, async () => {
      const reply = await exchange(ctx.port, upgrade(ctx.port, headers));
      assert.equal(reply.status, status, reply.head);
      if (head) assert.match(reply.head, head);
    });
  }
});

/** Reads until the server closes the connection or `deadlineMs` passes; what it sent, and whether it closed. */
async function readUntilClosed(conn: Deno.Conn, deadlineMs: number): Promise<{ closed: boolean; text: string }> {
  const buffer = new Uint8Array(4096);
  let text = "";
  const timer = setTimeout(() => conn.close(), deadlineMs);
  try {
    while (true) {
      const count = await conn.read(buffer);
      if (count === null) return { closed: true, text };
      text += new TextDecoder().decode(buffer.subarray(0, count));
    }
  } catch {
    // Our own deadline closed it: the server did not.
    return { closed: false, text };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("HttpSource closes a connection whose request head is late", async (t) => {
  const timeoutMs = 400;
  await using ctx = await startSource(timeoutMs);

  await t.step("a client that trickles header lines is cut off at the deadline", async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: ctx.port });
    const started = Date.now();
    const closing = readUntilClosed(conn, 10_000);
    let closed = false;
    closing.then(() => closed = true);
    await conn.write(new TextEncoder().encode(`GET /mytopic/json HTTP/1.1\r\nHost: 127.0.0.1:${ctx.port}\r\n`));
    // The attack: a header line every 50 ms, never the blank line; bounded, and it stops once cut off.
    for (let i = 0; i < 100 && !closed; i++) {
      await conn.write(new TextEncoder().encode(`X-Slow-${i}: y\r\n`)).catch(() => closed = true);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const result = await closing;
    const elapsed = Date.now() - started;
    assert.ok(result.closed, "the server closed the connection");
    assert.equal(result.text, "", "no reply to a request that never finished");
    assert.ok(elapsed >= timeoutMs - 50 && elapsed < timeoutMs + 2000, `closed after ${elapsed} ms`);
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  });

  await t.step("a client that connects and sends nothing is cut off too", async () => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: ctx.port });
    const result = await readUntilClosed(conn, 10_000);
    assert.ok(result.closed);
  });

  await t.step("requests that finish their heads in time are served, several on one connection", async () => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: ctx.port });
    const host = `Host: 127.0.0.1:${ctx.port}\r\n`;
    // A chunked body, then a request with a length, then one without a body: the framing finds each head.
    const requests = `POST /mytopic HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n` +
      `POST /mytopic HTTP/1.1\r\n${host}Content-Length: 2\r\n\r\nhi` +
      `GET /nothing-here HTTP/1.1\r\n${host}Connection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(requests));
    const result = await readUntilClosed(conn, 10_000);
    assert.ok(result.closed, "closed after the last request asked for it");
    const statuses = [...result.text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((match) => Number(match[1]));
    // The publish fails in these tests (500), but each request got its reply.
    assert.equal(statuses.length, 3, result.text);
    assert.equal(statuses[2], 404);
  });

  await t.step("a subscriber's stream outlives the deadline: only heads are timed", async () => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: ctx.port });
    await conn.write(new TextEncoder().encode(`GET /mytopic/json HTTP/1.1\r\nHost: 127.0.0.1:${ctx.port}\r\n\r\n`));
    // The keepalive comes a second in, more than twice the head deadline.
    const buffer = new Uint8Array(4096);
    let text = "";
    const started = Date.now();
    while (!text.includes('"event":"keepalive"')) {
      const count = await conn.read(buffer);
      assert.notEqual(count, null, `closed after ${Date.now() - started} ms:\n${text}`);
      text += new TextDecoder().decode(buffer.subarray(0, count!));
    }
    assert.ok(Date.now() - started > timeoutMs);
  });
});
