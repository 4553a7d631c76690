import type { Metadata } from "next";
import { Card, CardBody } from "@/components/ui/card";
import { requireAdminPage } from "@/lib/auth/session";
import { getFleetTotals } from "@/lib/admin/fleet-totals";

export const metadata: Metadata = { title: "Admin" };

export default async function AdminPage() {
  await requireAdminPage();
  const totals = await getFleetTotals();
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Fleet</h1>
        <p className="text-sm text-slate-600">Every user&apos;s instances and the health of their API keys.</p>
      </div>
      <div className="grid gap-4 sm:grid-cols-2">
        <Card>
          <CardBody>
            <p className="text-sm text-slate-600">Users</p>
            <p className="text-3xl font-semibold" data-testid="fleet-users">{totals.users}</p>
          </CardBody>
        </Card>
        <Card>
          <CardBody>
            <p className="text-sm text-slate-600">Instances</p>
            <p className="text-3xl font-semibold" data-testid="fleet-instances">{totals.instances}</p>
          </CardBody>
        </Card>
      </div>
    </div>
  );
}
