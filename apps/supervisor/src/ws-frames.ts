/**
 * @module ws-frames
 * Follows the frames the runtime sends on a relayed WebSocket (RFC 6455 §5.2) without holding
 * them: enough to know whether the bytes relayed so far end on a frame's boundary and whether a
 * close frame was among them. A runtime that goes down mid-conversation drops the connection
 * without a close frame, which clients report as 1006 (abnormal, no reason); with this, the
 * supervisor can end the conversation itself with 1012 (service restart) and a reason. Written
 * here rather than taken from `ws`: its receiver parses whole frames to hand them on, where a
 * relay needs only the header's length fields.
 */

/** The close code RFC 6455 §7.4.1 (IANA registry) gives a server that is restarting. */
export const SERVICE_RESTART = 1012;

export class FrameBoundaries {
  /** Bytes of the frame header being read; empty between frames and while in a payload. */
  #header: number[] = [];
  #payloadLeft = 0;
  #closeSeen = false;

  feed(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#payloadLeft > 0) {
        const taken = Math.min(this.#payloadLeft, chunk.length - at);
        this.#payloadLeft -= taken;
        at += taken;
        continue;
      }
      this.#header.push(chunk[at++] as number);
      if (this.#header.length === headerLength(this.#header)) {
        if (((this.#header[0] as number) & 0x0f) === 0x8) this.#closeSeen = true;
        this.#payloadLeft = payloadLength(this.#header);
        this.#header = [];
      }
    }
  }

  /** Whether the bytes so far end a frame: a frame of our own may follow them. */
  get atBoundary(): boolean {
    return this.#header.length === 0 && this.#payloadLeft === 0;
  }

  /** Whether the runtime sent a close frame: the conversation ended as WebSockets end. */
  get closeSeen(): boolean {
    return this.#closeSeen;
  }
}

/** A header's whole length once its first two bytes are known (undefined before). */
function headerLength(header: readonly number[]): number | undefined {
  if (header.length < 2) return undefined;
  const second = header[1] as number;
  const length7 = second & 0x7f;
  return 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (second & 0x80 ? 4 : 0);
}

function payloadLength(header: readonly number[]): number {
  const length7 = (header[1] as number) & 0x7f;
  if (length7 < 126) return length7;
  const bytes = header.slice(2, length7 === 126 ? 4 : 10);
  return bytes.reduce((total, byte) => total * 256 + byte, 0);
}

/** An unmasked close frame (a server's) with `code` and a UTF-8 `reason` of at most 123 bytes (RFC 6455 §5.5). */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason);
  if (text.length > 123) throw new RangeError(`a close frame's reason is at most 123 bytes, not ${text.length}`);
  return Buffer.concat([Buffer.from([0x88, 2 + text.length, code >> 8, code & 0xff]), text]);
}
