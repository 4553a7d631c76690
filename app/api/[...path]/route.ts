// Any /api path no route serves — answers 404 in the API's error shape instead of the HTML not-found page; no auth.
import { errorResponse } from "@/lib/http/errors";

export const dynamic = "force-dynamic";

const notFound = async () => errorResponse("not_found", "There is no API route at this path. See /api/openapi.json.");

export const GET = notFound;
export const POST = notFound;
export const PUT = notFound;
export const PATCH = notFound;
export const DELETE = notFound;
