/** For the client's node tests: the error a call rejected with, asserted to be a DwlRequestError. */
import { expect } from "vitest";
import { DwlRequestError } from "./errors.ts";

export async function rejection(promise: Promise<unknown>): Promise<DwlRequestError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DwlRequestError);
  return err as DwlRequestError;
}
