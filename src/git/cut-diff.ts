/** A diff cut at `maxBytes` (at a line end), saying how much was left out. */
export function cutDiff(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const cut = Buffer.from(text).subarray(0, maxBytes).toString('utf8');
  return `${cut.slice(0, cut.lastIndexOf('\n') + 1)}… (the diff is longer than ${Math.round(maxBytes / 1024)} KiB; the rest is left out)\n`;
}
