/** A comma-separated setting (`a, b,c`) as its trimmed, non-empty items. */
export function commaList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
