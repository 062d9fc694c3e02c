// Every outbound fetch goes through the loader's egress gateway, deny by default. This run
// allows only example.com (see the request options), so api.github.com is refused and the
// run fails with egress_denied. Add "api.github.com" to egress.allow to let it through.
export default async () => {
  const response = await fetch("https://api.github.com/zen");
  return await response.text();
};
