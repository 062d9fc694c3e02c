export type Shape = { kind: "rect"; width: number; height: number } | { kind: "circle"; radius: number };

export function area(shape: Shape): number {
  switch (shape.kind) {
    case "rect":
      return shape.width * shape.height;
    case "circle":
      return Math.PI * shape.radius ** 2;
  }
}

export const describe = (shape: Shape) => `${shape.kind} with area ${area(shape).toFixed(3)}`;
