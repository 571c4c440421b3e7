/**
 * The http source's connection-level defences, spoken byte by byte over a raw
 * TCP socket, since a well-behaved client (curl, a browser) cannot break the
 * rules: RFC 6455's WebSocket handshake checks.
 */

import assert from "node:assert/strict";
import { HttpSource } from "./http.ts";

async function startSource() {
  const source = new HttpSource({
    listen: "127.0.0.1:0",
    maxBodyBytes: 64 * 1024,
    publish: () => Promise.reject(new Error("no publishing in these tests")),
    feed: {
      topics: new Set(["mytopic"]),
      retentionMs: 86_400_000,
      follow: () => () => {},
      history: () => [],
      has: () => false,
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
