import type { Metadata } from "next";
import Link from "next/link";
import { getDb } from "@/db";
import { FleetJobsList } from "@/components/admin/fleet-jobs";
import { listFleetJobs } from "@/lib/fleet-jobs/jobs";
import { requireAdminForPage } from "../guard";

export const metadata: Metadata = { title: "Jobs · Fleet" };
export const dynamic = "force-dynamic";

export default async function AdminJobsPage() {
  await requireAdminForPage();
  const initialData = await listFleetJobs(await getDb(), { limit: 50 });
  return (
    <div className="space-y-6">
      <div>
        <Link href="/admin" className="text-sm text-brand-700 hover:underline">
          ← Fleet
        </Link>
        <h1 className="text-2xl font-semibold">Jobs</h1>
        <p className="text-sm text-slate-600">Bulk operations over the fleet. They run on the servers, visible to every admin.</p>
      </div>
      <FleetJobsList initialData={initialData} />
    </div>
  );
}
