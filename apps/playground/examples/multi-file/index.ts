// Several TypeScript modules, sent as `files`; relative imports between them just work.
import { area, describe, type Shape } from "./geometry";

const shapes: Shape[] = [
  { kind: "rect", width: 3, height: 2 },
  { kind: "circle", radius: 1 },
];

export default () => {
  for (const shape of shapes) console.log(describe(shape));
  return { total: Number(shapes.reduce((sum, s) => sum + area(s), 0).toFixed(3)) };
};
