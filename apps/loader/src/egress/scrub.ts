/**
 * @module egress/scrub
 * A host that echoes request headers (httpbin and friends) would hand an injected credential
 * back to the program. The gateway passes responses of credential-bearing requests through here:
 * every credential value in the headers and in a text body is replaced by the run's placeholder
 * for it, which the program already holds and which is worthless outside its hosts.
 */
import { readCapped, TOO_LARGE } from "../read-capped.ts";

/** What a value is replaced with: the run's placeholder, or a fixed marker when there is none. */
export interface Scrub {
  value: string;
  replacement: string;
}

const TEXT_TYPES = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded)|image\/svg)/i;

function scrubText(text: string, scrubs: readonly Scrub[]): string {
  // Longest first, so a value that contains another is replaced whole.
  for (const { value, replacement } of [...scrubs].sort((a, b) => b.value.length - a.value.length)) {
    if (value) text = text.replaceAll(value, replacement);
  }
  return text;
}

/**
 * The response with every credential value replaced, or a string saying why it cannot be passed
 * back: a text body over `maxBytes` is not read whole, so it could not be checked.
 */
export async function scrubResponse(
  response: Response,
  scrubs: readonly Scrub[],
  maxBytes: number,
): Promise<Response | string> {
  const headers = new Headers();
  response.headers.forEach((value, name) => {
    headers.append(name, scrubText(value, scrubs));
  });
  const type = response.headers.get("content-type") ?? "";
  // Binary bodies pass untouched; an encoded (compressed) body cannot be searched as text.
  if (!response.body || !TEXT_TYPES.test(type) || response.headers.has("content-encoding")) {
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
  const bytes = await readCapped(response.body, maxBytes);
  if (bytes === TOO_LARGE) {
    return `the response of a credential-bearing request is a text body over ${maxBytes} bytes, too large to check that it does not echo the credential`;
  }
  const text = scrubText(new TextDecoder().decode(bytes), scrubs);
  headers.delete("content-length");
  return new Response(text, { status: response.status, statusText: response.statusText, headers });
}
