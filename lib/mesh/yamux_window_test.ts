import assert from "node:assert/strict";
import { applied } from "./yamux_window.ts";
import { StreamState, YamuxStream } from "./libp2p.ts";

const WINDOW = 256 * 1024;
const DATA = 0;
const WINDOW_UPDATE = 1;

interface Header {
  type: number;
  flag: number;
  streamID: number;
  length: number;
}

/** libp2p's logger interface, silent. */
function quiet(): void {}
quiet.enabled = false;
quiet.trace = quiet;
quiet.error = quiet;
quiet.newScope = () => quiet;

function establishedStream(sent: Header[]) {
  const stream = new YamuxStream({
    id: "1",
    log: quiet,
    streamId: 1,
    direction: "inbound",
    state: StreamState.Established,
    initialStreamWindowSize: WINDOW,
    // No round trip measured yet: js-yamux's window auto-tuning stays out of the way.
    getRTT: () => -1,
    sendFrame: (header: Header) => {
      sent.push(header);
      return true;
    },
    // deno-lint-ignore no-explicit-any
  } as any);
  type Frame = Parameters<typeof stream.handleData>[0];
  const receive = (bytes: number) =>
    stream.handleData({
      header: { type: DATA, flag: 0, streamID: 1, length: bytes },
      data: new Uint8Array(bytes),
    } as unknown as Frame);
  return { stream, receive };
}

Deno.test("the yamux window patch still fits the installed @libp2p/yamux", () => {
  assert.equal(applied, true);
});

Deno.test("a yamux stream sends no window update until half its window is used, then one for all of it", () => {
  const sent: Header[] = [];
  const { stream, receive } = establishedStream(sent);
  for (let i = 0; i < 127; i++) receive(1024);
  assert.equal(sent.length, 0, "127 KiB of a 256 KiB window read: no update yet");
  receive(1024);
  receive(1024);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].type, WINDOW_UPDATE);
  assert.equal(sent[0].length, 129 * 1024, "the update returns everything read so far");
  stream.abort(new Error("test over"));
});
