const numberFormat = new Intl.NumberFormat("en-US");

/** "1,234": counts as every view shows them (the same on the server and in the browser). */
export function formatCount(value: number): string {
  return numberFormat.format(value);
}

/** "1 instance", "1,234 instances": a formatted count with the noun that fits it. */
export function plural(count: number, one: string, many: string): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}
