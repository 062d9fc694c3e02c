/**
 * The order test files start in (vitest.config.ts `sequence.sequencer`): vitest's own (one project
 * after the other, longest files first), except that the node files that start a dev server of
 * their own come last. Those crash, recycle or flood their runtime and then time what follows, so
 * they run one at a time (dev-server.ts `startDevServer` takes turns) and, at the end, alone: the
 * worker that would run beside them waits for its turn instead of loading the machine.
 */
import { readFileSync } from "node:fs";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const startsOwnServer = (spec: TestSpecification): boolean =>
  spec.moduleId.endsWith(".node.test.ts") && /\bstartDevServer\(/.test(readFileSync(spec.moduleId, "utf8"));

export class OwnServersLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const own = sorted.filter(startsOwnServer);
    return [...sorted.filter((spec) => !own.includes(spec)), ...own];
  }
}
