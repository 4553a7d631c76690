"use client";

import { LogOut, Loader2 } from "lucide-react";
import { toast } from "sonner";
import { Button } from "@/components/ui/button";
import { useSignOutEverywhere } from "@/lib/hooks/use-account";

/** "Sign out everywhere": ends every session of this account (other browsers too), then this one. */
export function SignOutEverywhere() {
  const signOutEverywhere = useSignOutEverywhere({
    onError: (error) => toast.error("Could not sign out everywhere", { description: error.message }),
  });
  const pending = signOutEverywhere.isPending;
  const run = () => !pending && signOutEverywhere.mutate();
  return (
    <div className="space-y-4">
      <p className="text-sm text-slate-600">
        Signed in somewhere you no longer use, or on a device you lost? End every session of your account at once, this one
        included.
      </p>
      <Button variant="secondary" onClick={run} aria-disabled={pending ? true : undefined}>
        {pending ? <Loader2 aria-hidden className="animate-spin" /> : <LogOut aria-hidden />}
        Sign out everywhere
      </Button>
    </div>
  );
}
