/**
 * @module sandboxes/cursor
 * The page cursor of GET /sandboxes: the listing's position (creation time and id of the last
 * sandbox of a page), opaque to clients. A position, not an id, so a page goes on after the
 * sandbox it ended with was deleted.
 */
import { DwlHttpError } from "../errors.ts";

export interface ListPosition {
  createdAt: string;
  id: string;
}

export function encodeCursor({ createdAt, id }: ListPosition): string {
  return btoa(JSON.stringify([createdAt, id]))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** The position a cursor names; a cursor this loader did not hand out is a 400 naming `cursor`. */
export function decodeCursor(cursor: string): ListPosition {
  let position: unknown;
  try {
    position = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
  } catch {
    position = undefined;
  }
  if (Array.isArray(position) && position.length === 2 && position.every((part) => typeof part === "string")) {
    const [createdAt, id] = position as [string, string];
    return { createdAt, id };
  }
  throw DwlHttpError.of("invalid_request", "cursor is not one that GET /sandboxes handed out", [
    { path: ["cursor"], message: "unknown cursor: pass the `cursor` of the previous page as it is" },
  ]);
}
