import { cache } from "react";
import { requireAdminPage } from "@/lib/auth/session";

/**
 * requireAdminPage once per request: the admin layouts check it before their pages' loading
 * boundaries (so a non-admin gets a real 404 status), and the pages check it again next to their
 * data; React's request cache makes the second check free.
 */
export const requireAdminForPage = cache(() => requireAdminPage());
