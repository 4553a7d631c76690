import type { ReactNode } from "react";
import { notFound } from "next/navigation";
import { getDb } from "@/db";
import { getFleetInstanceRecordOrThrow } from "@/lib/admin/instance-detail";
import { isAppError } from "@/lib/errors";
import { requireAdminForPage } from "../../guard";

/**
 * An unknown instance id is a real 404 status: checked here, before the page's loading boundary
 * starts streaming (a cheap primary-key lookup; the page then reads everything else).
 */
export default async function AdminInstanceLayout({ children, params }: { children: ReactNode; params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requireAdminForPage();
  await getFleetInstanceRecordOrThrow(await getDb(), id).catch((error: unknown) => {
    if (isAppError(error) && error.code === "not_found") notFound();
    throw error;
  });
  return children;
}
