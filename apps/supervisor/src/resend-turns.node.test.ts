import { describe, expect, it } from "vitest";
import { ResendTurns } from "./resend-turns.ts";

describe("ResendTurns", () => {
  it("gives turns one at a time, round robin by group, oldest first within a group", async () => {
    const turns = new ResendTurns();
    const served: string[] = [];
    const take = async (group: string, name: string) => {
      const end = await turns.take(group);
      served.push(name);
      await new Promise((r) => setTimeout(r, 5));
      end();
      end();
    };
    await Promise.all([
      take("beta", "beta 1"),
      take("beta", "beta 2"),
      take("beta", "beta 3"),
      take("gamma", "gamma 1"),
      take("alpha", "alpha 1"),
      take("gamma", "gamma 2"),
    ]);
    expect(served).toEqual(["beta 1", "gamma 1", "alpha 1", "beta 2", "gamma 2", "beta 3"]);
    // Free again: the next taker goes at once.
    const end = await turns.take("beta");
    end();
  });

  it("lets excused waiters go at once, without the turn, and keeps the others in line", async () => {
    const turns = new ResendTurns();
    const excused = new Set<string>();
    const endFirst = await turns.take("alpha");
    const order: string[] = [];
    const waiting = ["beta 1", "beta 2", "gamma 1"].map(async (name) => {
      const end = await turns.take(name.split(" ")[0] as string, () => excused.has(name));
      order.push(name);
      return end;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([]);
    excused.add("beta 1").add("gamma 1");
    turns.excuse();
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual(["beta 1", "gamma 1"]);
    endFirst();
    const ends = await Promise.all(waiting);
    expect(order).toEqual(["beta 1", "gamma 1", "beta 2"]);
    for (const end of ends) end();
  });
});
