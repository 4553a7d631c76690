// GET /api/openapi.json — anyone reads the OpenAPI 3.1 description of the HTTP API; no auth (it holds no data).
import { methodNotAllowed, withErrorHandling } from "@/lib/http/handlers";
import { jsonResponse } from "@/lib/http/responses";
import { getOpenApiDocument } from "@/lib/openapi/document";

export const dynamic = "force-dynamic";

export const GET = withErrorHandling(async () => jsonResponse(getOpenApiDocument()));

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");
