import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { InstanceDetail } from "@/components/instances/instance-detail";
import { requireUserPage } from "@/lib/auth/session";
import { isAppError } from "@/lib/errors";
import { readInstanceDetail } from "@/lib/instances/read";

export const metadata: Metadata = { title: "Instance" };

export default async function InstancePage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const user = await requireUserPage(`/instances/${id}`);
  const initialData = await readInstanceDetail(user.id, id).catch((error: unknown) => {
    // Another user's instance, a destroyed one and a malformed id all look like no page at all.
    if (isAppError(error) && error.code === "not_found") notFound();
    throw error;
  });
  return <InstanceDetail initialData={initialData} />;
}
