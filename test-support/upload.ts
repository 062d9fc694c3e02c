/**
 * Uploads made with node:http, as curl and SDKs send them: `bytes` in 1 MiB writes, with a
 * declared length or chunked (fetch() cannot stream a request body without buffering it first).
 */
import { request } from "node:http";

export interface UploadOptions {
  method: string;
  headers: Record<string, string>;
  bytes: number;
  /** No content-length: Transfer-Encoding chunked. */
  chunked: boolean;
}

/** Sends the upload to `url` and reads the whole answer as text. */
export function upload(url: string, { method, headers, bytes, chunked }: UploadOptions) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const sent = chunked ? headers : { ...headers, "content-length": String(bytes) };
    const req = request(url, { method, headers: sent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    const chunk = Buffer.alloc(1024 * 1024, 120);
    let written = 0;
    const pump = () => {
      while (written < bytes) {
        const piece = chunk.subarray(0, Math.min(chunk.length, bytes - written));
        written += piece.length;
        if (!req.write(piece)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}
