"use client";

import { LogOut, Loader2 } from "lucide-react";
import { signOut } from "next-auth/react";
import { useState } from "react";
import { toast } from "sonner";
import { signOutEverywhereAction } from "@/lib/actions/account";
import { Button } from "@/components/ui/button";
import { callAction, isServerError } from "@/lib/client/transport";

/** "Sign out everywhere": ends every session of this account (other browsers too), then this one. */
export function SignOutEverywhere() {
  const [pending, setPending] = useState(false);
  const run = async () => {
    setPending(true);
    try {
      await callAction(signOutEverywhereAction);
    } catch (error) {
      setPending(false);
      toast.error("Could not sign out everywhere", { description: isServerError(error) ? error.message : undefined });
      return;
    }
    await signOut({ callbackUrl: "/sign-in" });
  };
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
