import type { Metadata } from "next";
import { getDb } from "@/db";
import { RevokeAllKeys } from "@/components/account/revoke-all-keys";
import { SignOutEverywhere } from "@/components/account/sign-out-everywhere";
import { Card, CardBody, CardHeader } from "@/components/ui/card";
import { requireUserPage } from "@/lib/auth/session";
import { listInstancesForUser } from "@/lib/instances/queries";

export const metadata: Metadata = { title: "Account" };

export default async function AccountPage() {
  const user = await requireUserPage("/account");
  const instances = await listInstancesForUser(await getDb(), user.id);
  const instancesWithKeys = instances.filter((instance) => instance.keyId !== null && instance.keyRevokedAt === null).length;
  return (
    <div className="max-w-2xl space-y-6">
      <h1 className="text-2xl font-semibold">Account</h1>
      <Card>
        <CardHeader>
          <h2 className="font-medium">Profile</h2>
        </CardHeader>
        <CardBody>
          <dl className="grid grid-cols-[6rem_minmax(0,1fr)] gap-y-2 text-sm sm:grid-cols-[8rem_minmax(0,1fr)]">
            <dt className="text-slate-600">Email</dt>
            <dd className="break-words">{user.email}</dd>
            <dt className="text-slate-600">Name</dt>
            <dd>{user.name ?? "—"}</dd>
            <dt className="text-slate-600">Role</dt>
            <dd className="capitalize">{user.role}</dd>
          </dl>
        </CardBody>
      </Card>
      <Card>
        <CardHeader>
          <h2 className="font-medium">Sessions</h2>
        </CardHeader>
        <CardBody>
          <SignOutEverywhere />
        </CardBody>
      </Card>
      <Card className="border-red-200">
        <CardHeader className="border-red-100">
          <h2 className="font-medium">API keys</h2>
        </CardHeader>
        <CardBody>
          <RevokeAllKeys instancesWithKeys={instancesWithKeys} />
        </CardBody>
      </Card>
    </div>
  );
}
