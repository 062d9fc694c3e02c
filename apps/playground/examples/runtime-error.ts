// A failing program still answers HTTP 200, with ok: false and an error whose stack points at
// your own line: the editor marks it.
interface Order {
  id: string;
  total: number;
}

export default (input: { orders: Order[] }) => {
  const totals = input.orders.map((order) => order.total);
  console.log(`${totals.length} totals`, totals);
  const third = totals[2];
  return third!.toFixed(2);
};
