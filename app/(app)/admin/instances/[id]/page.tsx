import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { AdminInstanceDetail } from "@/components/admin/admin-instance-detail";
import { fleetBackHref } from "@/lib/admin/fleet-url";
import { isAppError } from "@/lib/errors";
import { requireAdminForPage } from "../../guard";
import { readAdminInstanceDetail } from "@/lib/admin/read";

export const metadata: Metadata = { title: "Instance · Fleet" };

export default async function AdminInstancePage({
  params,
  searchParams,
}: {
  params: Promise<{ id: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { id } = await params;
  await requireAdminForPage();
  const initialData = await readAdminInstanceDetail(id).catch((error: unknown) => {
    if (isAppError(error) && error.code === "not_found") notFound();
    throw error;
  });
  const { from } = await searchParams;
  return <AdminInstanceDetail initialData={initialData} backHref={fleetBackHref(typeof from === "string" ? from : undefined)} />;
}
