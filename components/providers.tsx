"use client";

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useState, useSyncExternalStore, type CSSProperties, type ReactNode } from "react";
import { Toaster } from "sonner";
import { z } from "zod";

// zod compiles object schemas with `new Function` when it can, and probes for that by trying it:
// under the pages' CSP (no 'unsafe-eval') the probe is a reported violation. Interpreted parsing
// is plenty fast for forms.
z.config({ jitless: true });

const PHONE_QUERY = "(max-width: 639px)";

function subscribeToPhoneQuery(onChange: () => void) {
  const query = window.matchMedia(PHONE_QUERY);
  query.addEventListener("change", onChange);
  return () => query.removeEventListener("change", onChange);
}

/** Phones show dialogs as bottom sheets, so toasts go to the top there, out of the sheet's way. */
function useIsPhone(): boolean {
  return useSyncExternalStore(
    subscribeToPhoneQuery,
    () => window.matchMedia(PHONE_QUERY).matches,
    () => false,
  );
}

/**
 * Darker text for the coloured toasts: sonner's own light-theme colours fall short of the AA contrast
 * ratio (4.5:1) on their tinted backgrounds. Its backgrounds and borders stay as they are.
 */
const toastTextColours = {
  "--success-text": "#166534",
  "--info-text": "#1e40af",
  "--warning-text": "#92400e",
  "--error-text": "#991b1b",
} as CSSProperties;

export function Providers({ children }: { children: ReactNode }) {
  // One client per browser session; created lazily so server renders never share one.
  const [queryClient] = useState(() => new QueryClient({ defaultOptions: { queries: { staleTime: 5_000 } } }));
  const isPhone = useIsPhone();
  return (
    <QueryClientProvider client={queryClient}>
      {children}
      <Toaster richColors position={isPhone ? "top-center" : "bottom-right"} closeButton style={toastTextColours} />
    </QueryClientProvider>
  );
}
