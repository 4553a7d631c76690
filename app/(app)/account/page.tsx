import type { Metadata } from "next";
import { Card, CardBody, CardHeader } from "@/components/ui/card";
import { requireUserPage } from "@/lib/auth/session";

export const metadata: Metadata = { title: "Account" };

export default async function AccountPage() {
  const user = await requireUserPage("/account");
  return (
    <div className="max-w-2xl space-y-6">
      <h1 className="text-2xl font-semibold">Account</h1>
      <Card>
        <CardHeader>
          <h2 className="font-medium">Profile</h2>
        </CardHeader>
        <CardBody>
          <dl className="grid grid-cols-[8rem_1fr] gap-y-2 text-sm">
            <dt className="text-slate-600">Email</dt>
            <dd>{user.email}</dd>
            <dt className="text-slate-600">Name</dt>
            <dd>{user.name ?? "—"}</dd>
            <dt className="text-slate-600">Role</dt>
            <dd className="capitalize">{user.role}</dd>
          </dl>
        </CardBody>
      </Card>
    </div>
  );
}
