/**
 * Noise's frame reader without an exception per read.
 *
 * `LengthPrefixedDecoder` (@libp2p/utils, used by @libp2p/noise for every
 * encrypted frame) reads frames in a loop until the length decoder throws a
 * `RangeError` for want of bytes. Frames nearly always arrive whole, so every
 * chunk read off a connection ended with a thrown and caught error, stack
 * trace and all: the most expensive single function in a receiver's profile
 * at 30 agents. Here the loop stops when the buffer is empty, before asking
 * the length decoder; a partial length prefix still ends it the old way.
 *
 * This replaces one method; `applied` says whether the class still looks as
 * expected, and a test fails when an upgrade changes it.
 */

import { InvalidMessageLengthError, InvalidParametersError, LengthPrefixedDecoder } from "./libp2p.ts";

/** What is used here of uint8arraylist's `Uint8ArrayList`. */
interface ByteList {
  readonly byteLength: number;
  append(chunk: Uint8Array | ByteList): void;
  sublist(start: number, end: number): ByteList;
  consume(bytes: number): void;
}

/** The private fields read here. */
interface DecoderFields {
  buffer: ByteList;
  maxBufferSize: number;
  maxDataLength: number;
  lengthDecoder(data: ByteList | Uint8Array): number;
  encodingLength(length: number): number;
}

type Decode = (this: DecoderFields, chunk: Uint8Array | ByteList) => Generator<ByteList>;

const prototype = LengthPrefixedDecoder.prototype as unknown as { decode: Decode };

/** Whether a fresh decoder has the fields this reads. */
function looksAsExpected(): boolean {
  const probe = new LengthPrefixedDecoder() as unknown as Partial<DecoderFields>;
  return typeof prototype.decode === "function" && typeof probe.buffer?.append === "function" &&
    typeof probe.maxBufferSize === "number" && typeof probe.maxDataLength === "number" &&
    typeof probe.lengthDecoder === "function" && typeof probe.encodingLength === "function";
}

export const applied: boolean = looksAsExpected();

if (applied) {
  prototype.decode = function* decode(this: DecoderFields, chunk) {
    const buffer = this.buffer;
    buffer.append(chunk);
    if (buffer.byteLength > this.maxBufferSize) {
      throw new InvalidParametersError(`Buffer length limit exceeded - ${buffer.byteLength}/${this.maxBufferSize}`);
    }
    while (buffer.byteLength > 0) {
      let dataLength: number;
      try {
        dataLength = this.lengthDecoder(buffer);
      } catch (error) {
        if (error instanceof RangeError) return; // a partial length prefix: wait for more
        throw error;
      }
      if (dataLength < 0 || dataLength > this.maxDataLength) {
        throw new InvalidMessageLengthError("Invalid message length");
      }
      const prefixLength = this.encodingLength(dataLength);
      const frameLength = prefixLength + dataLength;
      if (buffer.byteLength < frameLength) return;
      const frame = buffer.sublist(prefixLength, frameLength);
      buffer.consume(frameLength);
      if (frame.byteLength > 0) yield frame;
    }
  };
}
