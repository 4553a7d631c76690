import type { Metadata } from "next";
import { connection } from "next/server";
import type { ReactNode } from "react";
import { Providers } from "@/components/providers";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Fleetdeck", template: "%s · Fleetdeck" },
  description: "Run and watch your hosted agent-gateway instances and their API keys.",
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Every page is rendered per request, so each carries the nonce of its own CSP (proxy.ts).
  await connection();
  return (
    <html lang="en">
      <body className="min-h-screen">
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
