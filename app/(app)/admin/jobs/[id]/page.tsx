import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { getDb } from "@/db";
import { FleetJobDetail } from "@/components/admin/fleet-jobs";
import { isAppError } from "@/lib/errors";
import { getFleetJobOrThrow } from "@/lib/fleet-jobs/jobs";
import { fleetJobParamsSchema, JOB_PAGE_ITEMS } from "@/lib/fleet-jobs/schemas";
import { requireAdminForPage } from "../../guard";

export const metadata: Metadata = { title: "Job · Fleet" };
export const dynamic = "force-dynamic";

export default async function AdminJobPage({ params }: { params: Promise<{ id: string }> }) {
  await requireAdminForPage();
  const parsed = fleetJobParamsSchema.safeParse(await params);
  if (!parsed.success) notFound();
  const initialData = await getFleetJobOrThrow(await getDb(), parsed.data.id, { limit: JOB_PAGE_ITEMS }).catch((error: unknown) => {
    if (isAppError(error) && error.code === "not_found") notFound();
    throw error;
  });
  return (
    <div className="space-y-4">
      <Link href="/admin/jobs" className="text-sm text-brand-700 hover:underline">
        ← Jobs
      </Link>
      <FleetJobDetail initialData={initialData} />
    </div>
  );
}
