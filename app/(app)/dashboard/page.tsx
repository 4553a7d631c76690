import type { Metadata } from "next";
import { InstanceDashboard } from "@/components/instances/instance-dashboard";
import { requireUserPage } from "@/lib/auth/session";
import { readInstanceList } from "@/lib/instances/read";
import { getRegionOptions } from "@/lib/machines/regions";

export const metadata: Metadata = { title: "Dashboard" };

export default async function DashboardPage() {
  const user = await requireUserPage("/dashboard");
  const initialData = await readInstanceList(user.id);
  return <InstanceDashboard initialData={initialData} regions={getRegionOptions()} signedInAs={user.name ?? user.email} />;
}
