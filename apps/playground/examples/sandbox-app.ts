// A sandbox stays addressable: POST /sandboxes stores it, /sandboxes/<id>/http/* reaches its
// fetch handler. Module state (`visits`) lives as long as the isolate stays warm.
let visits = 0;

export default {
  fetch(request: Request): Response {
    const url = new URL(request.url);
    if (url.pathname === "/api/visits") return Response.json({ visits });
    visits++;
    return new Response(page(visits), { headers: { "content-type": "text/html; charset=utf-8" } });
  },
};

function page(visits: number): string {
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Hello from a sandbox</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 1.25rem; color: #0f172a; }
  button { font: inherit; padding: 0.3rem 0.8rem; }
</style>
<h1>Hello from a sandbox</h1>
<p>Rendered by your program on visit <strong id="visits">${visits}</strong>.</p>
<button id="counter" type="button">Clicked 0 times</button>
<script>
  let clicks = 0;
  document.getElementById("counter").addEventListener("click", (event) => {
    event.target.textContent = "Clicked " + ++clicks + (clicks === 1 ? " time" : " times");
  });
</script>`;
}
