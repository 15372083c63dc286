/**
 * @module functions/echo — streams the request body back as it arrives, never holding it
 * whole: the Response body is the Request body's stream.
 */
export default async function echo(request: Request): Promise<Response> {
  return new Response(request.body, {
    headers: { "content-type": request.headers.get("content-type") ?? "application/octet-stream" },
  });
}
