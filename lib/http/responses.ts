/** A JSON success response. API answers describe live state, so nothing may cache them. */
export function jsonResponse(body: unknown, init: { status?: number; headers?: HeadersInit } = {}): Response {
  const headers = new Headers(init.headers);
  headers.set("cache-control", "no-store");
  return Response.json(body, { status: init.status ?? 200, headers });
}
