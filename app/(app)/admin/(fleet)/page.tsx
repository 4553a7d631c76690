import type { Metadata } from "next";
import Link from "next/link";
import { FleetOverview } from "@/components/admin/fleet-overview";
import { FleetView } from "@/components/admin/fleet-view";
import { ClockProvider } from "@/components/shared/time";
import { requireAdminForPage } from "../guard";
import { readFleetView } from "@/lib/admin/read";

export const metadata: Metadata = { title: "Fleet" };

export default async function AdminPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  await requireAdminForPage();
  const data = await readFleetView(await searchParams);
  return (
    <div className="space-y-8">
      <div className="flex flex-wrap items-end justify-between gap-2">
        <div>
          <h1 className="text-2xl font-semibold">Fleet</h1>
          <p className="text-sm text-slate-600">Every user&apos;s instances and the health of their API keys.</p>
        </div>
        <Link href="/admin/jobs" className="text-sm font-medium text-brand-700 hover:underline">
          Jobs
        </Link>
      </div>
      <ClockProvider serverNow={data.generatedAt}>
        <FleetOverview overview={data.overview} />
      </ClockProvider>
      <FleetView data={data} />
    </div>
  );
}
