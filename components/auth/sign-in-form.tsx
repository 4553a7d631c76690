"use client";

import { signIn } from "next-auth/react";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { Button } from "@/components/ui/button";

const MESSAGES: Record<string, string> = {
  CredentialsSignin: "That email and password do not match an account.",
  TooManyAttempts: "Too many failed attempts. Wait 15 minutes and try again.",
};

function messageFor(code: string | null | undefined): string | undefined {
  if (!code) return undefined;
  return MESSAGES[code] ?? "Sign-in failed. Please try again.";
}

/**
 * Only same-origin paths are followed after sign-in, so the form cannot be used as an open
 * redirect. The URL is resolved the way the browser will (`/\evil`, tabs and all) before checking.
 */
export function safeCallback(url: string | undefined, origin = typeof window === "undefined" ? "http://localhost" : window.location.origin): string {
  if (!url) return "/dashboard";
  try {
    const resolved = new URL(url, origin);
    return resolved.origin === origin ? `${resolved.pathname}${resolved.search}${resolved.hash}` : "/dashboard";
  } catch {
    return "/dashboard";
  }
}

export function SignInForm({ callbackUrl, initialError, githubEnabled }: {
  callbackUrl?: string;
  initialError?: string;
  githubEnabled: boolean;
}) {
  const router = useRouter();
  const [error, setError] = useState(messageFor(initialError));
  const [pending, setPending] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPending(true);
    setError(undefined);
    const result = await signIn("credentials", {
      email: String(form.get("email") ?? ""),
      password: String(form.get("password") ?? ""),
      redirect: false,
    });
    if (result?.ok && !result.error) {
      router.replace(safeCallback(callbackUrl));
      router.refresh();
      return;
    }
    setPending(false);
    setError(messageFor(result?.error ?? "CredentialsSignin"));
  }

  return (
    <div className="space-y-6">
      <form onSubmit={onSubmit} className="space-y-4" noValidate aria-describedby={error ? "sign-in-error" : undefined}>
        <div className="space-y-1">
          <label htmlFor="email" className="block text-sm font-medium text-slate-700">Email</label>
          <input
            id="email" name="email" type="email" autoComplete="email" required autoFocus
            className="block w-full rounded-md border border-slate-300 px-3 py-2 text-sm shadow-sm focus:border-brand-500 focus:outline-none focus:ring-2 focus:ring-brand-100"
          />
        </div>
        <div className="space-y-1">
          <label htmlFor="password" className="block text-sm font-medium text-slate-700">Password</label>
          <input
            id="password" name="password" type="password" autoComplete="current-password" required
            className="block w-full rounded-md border border-slate-300 px-3 py-2 text-sm shadow-sm focus:border-brand-500 focus:outline-none focus:ring-2 focus:ring-brand-100"
          />
        </div>
        {error ? (
          <p id="sign-in-error" role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
            {error}
          </p>
        ) : null}
        <Button type="submit" className="w-full" disabled={pending}>
          {pending ? "Signing in…" : "Sign in"}
        </Button>
      </form>
      {githubEnabled ? (
        <Button variant="secondary" className="w-full" onClick={() => signIn("github", { callbackUrl: safeCallback(callbackUrl) })}>
          Continue with GitHub
        </Button>
      ) : null}
    </div>
  );
}
