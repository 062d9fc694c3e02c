// A module whose default export is a function: called as fn(input, env), awaited, and its
// return value is the result. console.* lines come back as logs, with their level.
export default function hello(input: { name: string }) {
  console.log(`hello, ${input.name}!`);
  console.info("each log line has a level…");
  console.warn("…and a time in ms since the run started");
  return { greeting: `Hello, ${input.name}!`, length: input.name.length };
}
