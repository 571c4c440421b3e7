import assert from "node:assert/strict";
import { applied } from "./length_prefix_decoder.ts";
import { LengthPrefixedDecoder } from "./libp2p.ts";

/** Noise's length decoder: two bytes, big-endian, RangeError when short. */
function uint16(data: Uint8Array | { byteLength: number; getUint16(at: number): number }): number {
  if (data.byteLength < 2) throw new RangeError("Could not decode int16BE");
  return data instanceof Uint8Array ? (data[0] << 8) | data[1] : data.getUint16(0);
}

function noiseDecoder(maxDataLength = 1024) {
  return new LengthPrefixedDecoder({ lengthDecoder: uint16, encodingLength: () => 2, maxDataLength });
}

function frame(...bytes: number[]): Uint8Array {
  return Uint8Array.of(bytes.length >> 8, bytes.length & 0xff, ...bytes);
}

function framesOf(decoder: LengthPrefixedDecoder, chunk: Uint8Array): number[][] {
  return [...decoder.decode(chunk)].map((list) => [...list.subarray()]);
}

Deno.test("the length-prefix decoder patch still fits the installed @libp2p/utils", () => {
  assert.equal(applied, true);
});

Deno.test("whole frames are read without a RangeError being thrown", () => {
  const decoder = noiseDecoder();
  let thrown = 0;
  const counting = new LengthPrefixedDecoder({
    lengthDecoder: (data) => {
      try {
        return uint16(data);
      } catch (error) {
        thrown++;
        throw error;
      }
    },
    encodingLength: () => 2,
  });
  const chunk = Uint8Array.of(...frame(1, 2, 3), ...frame(4));
  assert.deepEqual(framesOf(decoder, chunk), [[1, 2, 3], [4]]);
  assert.deepEqual(framesOf(counting, chunk), [[1, 2, 3], [4]]);
  assert.equal(thrown, 0);
});

Deno.test("frames split anywhere, even inside the length prefix, come out whole", () => {
  const stream = Uint8Array.of(...frame(1, 2, 3), ...frame(), ...frame(9, 8), ...frame(7));
  for (let cut = 0; cut <= stream.length; cut++) {
    const decoder = noiseDecoder();
    const frames = [...framesOf(decoder, stream.subarray(0, cut)), ...framesOf(decoder, stream.subarray(cut))];
    // An empty frame carries nothing and is skipped, as before the patch.
    assert.deepEqual(frames, [[1, 2, 3], [9, 8], [7]], `cut at ${cut}`);
  }
  const decoder = noiseDecoder();
  const oneByOne = [...stream].flatMap((byte) => framesOf(decoder, Uint8Array.of(byte)));
  assert.deepEqual(oneByOne, [[1, 2, 3], [9, 8], [7]]);
});

Deno.test("a frame longer than allowed, or a buffer over its limit, is an error", () => {
  assert.throws(() => framesOf(noiseDecoder(2), frame(1, 2, 3)), { name: "InvalidMessageLengthError" });
  const small = new LengthPrefixedDecoder({ lengthDecoder: uint16, encodingLength: () => 2, maxBufferSize: 4 });
  assert.throws(() => framesOf(small, new Uint8Array(5)), { name: "InvalidParametersError" });
});
