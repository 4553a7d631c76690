import { Server } from "lucide-react";
import type { Metadata } from "next";
import { Card, CardBody } from "@/components/ui/card";
import { requireUserPage } from "@/lib/auth/session";

export const metadata: Metadata = { title: "Dashboard" };

export default async function DashboardPage() {
  const user = await requireUserPage("/dashboard");
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Your instances</h1>
        <p className="text-sm text-slate-600">Signed in as {user.name ?? user.email}.</p>
      </div>
      <Card>
        <CardBody className="flex flex-col items-center gap-3 py-12 text-center">
          <Server aria-hidden className="size-10 text-slate-400" />
          <h2 className="text-lg font-medium">No instances yet</h2>
          <p className="max-w-md text-sm text-slate-600">
            An instance is a hosted agent gateway running on its own machine with its own API key.
            Fleetdeck mints a fresh 30-day key every time it starts, and renews the key before it runs out.
            Instances provisioned for your account will appear here with their status and key expiry.
          </p>
        </CardBody>
      </Card>
    </div>
  );
}
