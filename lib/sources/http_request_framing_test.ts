import assert from "node:assert/strict";
import { RequestFraming } from "./http_request_framing.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** Feeds `text` one byte at a time (the worst split) and reports whether a head is open at the end. */
function openAfter(text: string, maxHeadBytes = 1024): { inHead: boolean; tooLarge: boolean } {
  const framing = new RequestFraming(maxHeadBytes);
  let tooLarge = false;
  for (const byte of bytes(text)) tooLarge ||= framing.push(new Uint8Array([byte])).headTooLarge;
  return { inHead: framing.inHead, tooLarge };
}

Deno.test("RequestFraming finds where each request head starts and ends", async (t) => {
  const cases: [name: string, text: string, inHead: boolean][] = [
    ["nothing yet", "", false],
    ["a head without its blank line", "GET / HTTP/1.1\r\nHost: x\r\n", true],
    ["a whole head", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false],
    ["bare line feeds", "GET / HTTP/1.1\nHost: x\n\n", false],
    ["a body by length is not a head", "POST / HTTP/1.1\r\nContent-Length: 20\r\n\r\nnot a head, a body", false],
    ["the next head after a body", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\n", true],
    [
      "a chunked body, then the next head",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nTrailer: t\r\n\r\nGET /",
      true,
    ],
    ["inside a chunked body", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nGET / HTTP", false],
    ["after an upgrade, frames are not heads", "GET /t/ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x05hello", false],
    ["a bad length is left to the server", "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\n", false],
  ];
  for (const [name, text, inHead] of cases) {
    await t.step(name, () => assert.equal(openAfter(text).inHead, inHead));
  }
  await t.step("in one chunk, as in several", () => {
    const framing = new RequestFraming(1024);
    const step = framing.push(bytes("GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n"));
    assert.deepEqual(step, { headStarted: true, headEnded: true, headTooLarge: false });
    assert.equal(framing.inHead, true);
  });
  await t.step("a head over the cap", () => {
    assert.equal(openAfter(`GET / HTTP/1.1\r\nX: ${"y".repeat(100)}`, 64).tooLarge, true);
  });
});
