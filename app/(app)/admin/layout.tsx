import type { ReactNode } from "react";
import { requireAdminForPage } from "./guard";

/**
 * Every admin page is a 404 for everyone but admins. Checked here, outside the pages' loading
 * boundaries, so the answer is a real 404 status and not a streamed 200 that renders "not found".
 * The pages check again themselves (auth next to the data).
 */
export default async function AdminLayout({ children }: { children: ReactNode }) {
  await requireAdminForPage();
  return children;
}
