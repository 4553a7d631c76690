// Plain module (no path aliases, no server-only imports): next.config.ts and proxy.ts both load it.

export interface CspOptions {
  /** A fresh random value per response; Next puts it on every script it renders. */
  nonce: string;
  /** `next dev` evaluates code with eval for fast refresh; production never gets 'unsafe-eval'. */
  development: boolean;
  /** The app is served over https: ask the browser to upgrade any stray http subresource. */
  https: boolean;
}

/**
 * The pages' Content-Security-Policy. Scripts run only with this response's nonce ('strict-dynamic'
 * lets Next's own chunk loader add more); styles may be inline because React and Radix render
 * `style` attributes (positioning, progress bars) that a nonce cannot cover — style injection
 * cannot run code, so the script policy carries the XSS protection. No framing, no plugins, forms
 * and the base URL stay on this origin.
 */
export function pageContentSecurityPolicy({ nonce, development, https }: CspOptions): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${development ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self'${development ? " ws:" : ""}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    ...(https ? ["upgrade-insecure-requests"] : []),
  ].join("; ");
}

/** API answers are JSON, never documents: nothing may load from them or frame them. */
export const API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'";

/**
 * Headers every response carries (next.config.ts `headers()`). HSTS only in production builds: a
 * development server on http://localhost must not pin the browser to https.
 */
export function staticSecurityHeaders(production: boolean): { key: string; value: string }[] {
  return [
    { key: "X-Content-Type-Options", value: "nosniff" },
    { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
    { key: "X-Frame-Options", value: "DENY" },
    { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()" },
    { key: "Cross-Origin-Opener-Policy", value: "same-origin" },
    ...(production ? [{ key: "Strict-Transport-Security", value: "max-age=63072000; includeSubDomains" }] : []),
  ];
}
