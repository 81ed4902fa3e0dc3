// "did you mean ...?" for misspelled keys and host names.

/** Levenshtein distance, with a transposition counted as one edit (Damerau, restricted). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** sshKey, ssh-key and SSH_KEY all mean ssh_key */
function canonical(s: string): string {
  return s.toLowerCase().replace(/[-_ ]/g, '');
}

/** The candidate the user most likely meant, or undefined when none is close. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  const w = canonical(word);
  for (const candidate of candidates) {
    const c = canonical(candidate);
    const score = w === c ? 0 : editDistance(w, c);
    const allowed = Math.max(1, Math.floor(Math.max(w.length, c.length) / 3));
    if (score <= allowed && score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/** " (did you mean "address"?)" or "" */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const guess = closest(word, candidates);
  return guess && guess !== word ? ` (did you mean "${guess}"?)` : '';
}
