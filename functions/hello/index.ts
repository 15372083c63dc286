/** @module functions/hello — the smallest function: plain text, with an optional name. */
export default {
  async fetch(request: Request, env: Record<string, string>): Promise<Response> {
    const name = new URL(request.url).pathname.split("/")[2] || env.GREETING_NAME || "world";
    return new Response(`hello, ${decodeURIComponent(name)}\n`, {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  },
};
