"use client";

import { ChevronLeft, ChevronRight, ChevronsLeft } from "lucide-react";
import Link from "next/link";
import type { MouseEvent, ReactNode } from "react";
import { plural } from "@/components/shared/format";
import { Button } from "@/components/ui/button";
import { fleetHref, withoutCursor } from "@/lib/admin/fleet-url";
import type { FleetViewData } from "@/lib/admin/read";
import type { FleetQuery } from "@/lib/admin/schemas";

/** A link that navigates inside a transition (so the table shows it is loading) unless opened in a new tab. */
function PageLink({ href, onNavigate, children, label }: { href: string; onNavigate: (href: string) => void; children: ReactNode; label: string }) {
  const click = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || event.button !== 0) return;
    event.preventDefault();
    onNavigate(href);
  };
  return (
    <Button asChild variant="secondary" size="sm">
      <Link href={href} prefetch={false} onClick={click} aria-label={label}>
        {children}
      </Link>
    </Button>
  );
}

/** First / Previous / Next over the fleet's keyset pages (each a URL); nothing when everything fits on one page. */
export function FleetPager({ query, page, onNavigate }: { query: FleetQuery; page: FleetViewData["page"]; onNavigate: (href: string) => void }) {
  if (!page.prevCursor && !page.nextCursor) return null;
  return (
    <nav aria-label="Pages" className="flex flex-wrap items-center justify-between gap-2">
      <div className="flex gap-2">
        {query.cursor ? (
          <PageLink href={fleetHref(withoutCursor(query))} onNavigate={onNavigate} label="First page">
            <ChevronsLeft aria-hidden /> First
          </PageLink>
        ) : null}
        {page.prevCursor ? (
          <PageLink href={fleetHref({ ...query, cursor: page.prevCursor })} onNavigate={onNavigate} label="Previous page">
            <ChevronLeft aria-hidden /> Previous
          </PageLink>
        ) : null}
      </div>
      <p className="text-xs text-slate-500">{plural(page.instances.length, "instance", "instances")} on this page</p>
      {page.nextCursor ? (
        <PageLink href={fleetHref({ ...query, cursor: page.nextCursor })} onNavigate={onNavigate} label="Next page">
          Next <ChevronRight aria-hidden />
        </PageLink>
      ) : (
        <span />
      )}
    </nav>
  );
}
