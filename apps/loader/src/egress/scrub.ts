/**
 * @module egress/scrub
 * A host that echoes request headers (httpbin and friends) would hand an injected credential
 * back to the program. The gateway passes responses of credential-bearing requests through here:
 * every credential value in the headers and in the body is replaced by the run's placeholder for
 * it, which the program already holds and which is worthless outside its hosts.
 *
 * The body is scrubbed as bytes, whatever its content type, and as the runtime decodes it (after
 * gzip or brotli): the program reads those same bytes, so a value echoed in a binary type or a
 * compressed answer would otherwise reach it whole. It is streamed, never buffered whole, so
 * scrubbing puts no bound on the answer's size.
 */

/** What a value is replaced with: the run's placeholder, or a fixed marker when there is none. */
export interface Scrub {
  value: string;
  replacement: string;
}

interface ByteScrub {
  value: Uint8Array;
  replacement: Uint8Array;
}

function scrubText(text: string, scrubs: readonly Scrub[]): string {
  // Longest first, so a value that contains another is replaced whole.
  for (const { value, replacement } of [...scrubs].sort((a, b) => b.value.length - a.value.length)) {
    if (value) text = text.replaceAll(value, replacement);
  }
  return text;
}

/** Where `needle` first occurs in `haystack` at or after `from`, starting before `before`; -1 if not. */
function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number, before: number): number {
  const first = needle[0] as number;
  for (let at = haystack.indexOf(first, from); at !== -1 && at < before; at = haystack.indexOf(first, at + 1)) {
    let i = 1;
    while (i < needle.length && haystack[at + i] === needle[i]) i++;
    if (i === needle.length) return at;
  }
  return -1;
}

/**
 * A stream that replaces every value with its replacement, also across chunk boundaries: the
 * last `longest - 1` bytes of a chunk wait for the next one, since a value may begin there.
 */
export function scrubStream(scrubs: readonly Scrub[]): TransformStream<Uint8Array, Uint8Array> {
  const encoder = new TextEncoder();
  const bytes: ByteScrub[] = scrubs
    .filter((s) => s.value)
    .map((s) => ({ value: encoder.encode(s.value), replacement: encoder.encode(s.replacement) }))
    .sort((a, b) => b.value.length - a.value.length);
  const longest = bytes[0]?.value.length ?? 0;
  let pending = new Uint8Array(0);

  const scrub = (chunk: Uint8Array, final: boolean, controller: TransformStreamDefaultController<Uint8Array>) => {
    const buffer = new Uint8Array(pending.length + chunk.length);
    buffer.set(pending);
    buffer.set(chunk, pending.length);
    // A value starting before `decided` lies wholly in the buffer; one starting later may not.
    const decided = final ? buffer.length : Math.max(0, buffer.length - (longest - 1));
    let position = 0;
    for (;;) {
      let match: { at: number; scrub: ByteScrub } | undefined;
      for (const candidate of bytes) {
        const at = indexOfBytes(buffer, candidate.value, position, match ? match.at : decided);
        // Longest first: a later, shorter value wins only when it starts strictly earlier.
        if (at !== -1 && (!match || at < match.at)) match = { at, scrub: candidate };
      }
      if (!match) break;
      if (match.at > position) controller.enqueue(buffer.slice(position, match.at));
      controller.enqueue(match.scrub.replacement.slice());
      position = match.at + match.scrub.value.length;
    }
    const keep = Math.max(position, decided);
    if (keep > position) controller.enqueue(buffer.slice(position, keep));
    pending = buffer.slice(keep);
  };

  return new TransformStream({
    transform: (chunk, controller) => scrub(chunk, false, controller),
    flush: (controller) => scrub(new Uint8Array(0), true, controller),
  });
}

/** The response with every credential value replaced, in its headers and its (decoded) body. */
export function scrubResponse(response: Response, scrubs: readonly Scrub[]): Response {
  const headers = new Headers();
  response.headers.forEach((value, name) => {
    headers.append(name, scrubText(value, scrubs));
  });
  if (!response.body) return new Response(null, { status: response.status, statusText: response.statusText, headers });
  // A replacement may differ in length from the value it replaces.
  headers.delete("content-length");
  return new Response(response.body.pipeThrough(scrubStream(scrubs)), {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}
