/** Edits (insert, delete, replace one character) between a and b. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The names a mistyped `name` probably meant: those within a few edits of it (a third of its
 * length), or that contain it or are contained in it (`API_TOKEN` → TELECODER_API_TOKEN), closest
 * first; at most `limit`.
 */
export function closeNames(name: string, names: readonly string[], limit = 5): string[] {
  const wanted = name.toUpperCase();
  return names
    .map((candidate) => {
      const distance = editDistance(wanted, candidate);
      const contains = wanted.length >= 3 && (candidate.includes(wanted) || wanted.includes(candidate));
      return { candidate, distance, close: distance <= Math.max(2, Math.floor(wanted.length / 3)) || contains };
    })
    .filter((entry) => entry.close)
    .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    .slice(0, limit)
    .map((entry) => entry.candidate);
}
