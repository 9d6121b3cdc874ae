export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export function formatDate(ms: number): string {
  return ms ? dtf.format(new Date(ms)) : '—';
}


// Words that guessers try first: the most common password words and the most frequent short
// English words (one list, lower case). A word from it is worth about 7 bits, not 13.
const COMMON = new Set((
  'password pass love secret dragon monkey letmein qwerty admin welcome master shadow sunshine ' +
  'princess football baseball soccer hockey summer winter spring autumn flower freedom whatever ' +
  'trustno1 iloveyou hello hunter killer batman superman starwars pokemon computer internet ' +
  'correct horse battery staple apple orange banana cherry purple yellow green blue black white red ' +
  'silver golden money dollar happy lucky angel heaven jesus god baby family friend friends forever ' +
  'home house coffee chocolate cookie music guitar piano tiger lion bear eagle wolf fish cat dog ' +
  'the and for are but not you all any can had her was one our out day get has him his how man new ' +
  'now old see two way who boy did its let put say she too use this that with have from they will ' +
  'what when make like time just know take year your good some them than then look only come over ' +
  'also back after work first well even want give most very world life water under window door ' +
  'open close light night dark fire earth stone river ocean moon star sun rain snow wind tree ' +
  'seven three four five six eight nine ten zero hundred'
).split(' '));

/** `token` with the usual character swaps (p@ssw0rd) undone, in lower case. */
const unleet = (token: string) =>
  token.toLowerCase().replace(/[@4]/g, 'a').replace(/3/g, 'e').replace(/[1!|]/g, 'i').replace(/0/g, 'o')
    .replace(/[$5]/g, 's').replace(/7/g, 't');

/** Looks like a word someone could look up: letters only, with vowels, no run of 5 consonants. */
const wordlike = (w: string) => /^[a-z]+$/.test(w) && /[aeiouy]/.test(w) && !/[^aeiouy]{5}/.test(w);

/** Runs such as "abcd", "4321", "qwerty": each character after the first adds almost nothing. */
function sequenceLength(t: string): number {
  const rows = ['abcdefghijklmnopqrstuvwxyz', '01234567890', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm'];
  const l = t.toLowerCase();
  return rows.some((r) => r.includes(l) || [...r].reverse().join('').includes(l)) ? l.length : 0;
}

/**
 * Bits for words written together ("correcthorse"): the common words found from left to right
 * count 7 each, and the letters between them as one uncommon word per 7 letters.
 */
function joinedBits(w: string): number {
  let bits = 0;
  let rest = 0;
  for (let i = 0; i < w.length;) {
    let found = 0;
    for (let n = Math.min(9, w.length - i); n >= 3 && !found; n--) if (COMMON.has(w.slice(i, i + n))) found = n;
    if (found) { bits += 7; i += found; } else { rest++; i++; }
  }
  return Math.max(13, bits + 13 * Math.ceil(rest / 7));
}

/** Bits for one token with no spaces: a dictionary word, a number, a sequence, or random characters. */
function tokenBits(token: string): number {
  const seq = sequenceLength(token);
  if (seq >= 3) return 4 + seq * 0.5;
  if (new Set(token).size === 1) return 3 + token.length * 0.5; // "aaaa", "!!!!"
  if (/^[0-9]+$/.test(token)) return /^(19|20)[0-9]{2}$/.test(token) ? 7 : token.length * Math.log2(10);
  // A word, possibly capitalised, leet-spelt or with a few digits or symbols after it.
  const m = /^(.*?)([0-9!?.#*]{0,4})$/.exec(token)!;
  const word = unleet(m[1]!);
  if (word.length >= 2 && (COMMON.has(word) || wordlike(word))) {
    const base = COMMON.has(word) ? 7 : word.length > 8 ? joinedBits(word) : 13;
    const changed = m[1] !== m[1]!.toLowerCase() || unleet(m[1]!) !== m[1]!.toLowerCase() ? 2 : 0;
    return base + changed + m[2]!.length * 3.3;
  }
  // Anything else counts as random characters from the classes it uses.
  let pool = 0;
  if (/[a-z]/.test(token)) pool += 26;
  if (/[A-Z]/.test(token)) pool += 26;
  if (/[0-9]/.test(token)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(token)) pool += 33;
  const effective = Math.min(token.length, new Set(token).size * 2);
  return effective * Math.log2(Math.max(pool, 2));
}

/**
 * A conservative strength estimate (bits) in the spirit of zxcvbn, without its 800 kB of word
 * lists: a passphrase is split into words (at spaces and separators such as "-"); a common word
 * counts ~7 bits, any other word ~13 (a dictionary of ~10,000 words), a number by its digits, a
 * sequence or a repeat almost nothing, and only a token that is none of these counts as random
 * characters. Character-class counting alone
 * rated "correct horse" (two of the first words a guesser tries) as 62 bits.
 */
export function passphraseBits(p: string): number {
  // Words may be joined by spaces or by the usual separators; a separator other than a space
  // adds a guess or two, not the 5 bits of a random symbol.
  const tokens = p.split(/[\s\-_.,:;+/]+/).filter(Boolean);
  if (!tokens.length) return Math.round(Math.min(p.length, 4) * 2);
  const seen = new Set<string>();
  let bits = /[\-_.,:;+/]/.test(p) ? 2 : 0;
  for (const t of tokens) {
    const key = unleet(t);
    bits += seen.has(key) ? 1 : tokenBits(t); // the same word again adds almost nothing
    seen.add(key);
  }
  return Math.round(bits);
}

export function strengthLabel(bits: number): { label: string; color: string; pct: number } {
  if (bits < 40) return { label: 'Weak', color: 'var(--danger)', pct: Math.max(8, (bits / 100) * 100) };
  if (bits < 60) return { label: 'Fair', color: 'var(--warn)', pct: (bits / 100) * 100 };
  if (bits < 80) return { label: 'Good', color: 'var(--ok)', pct: (bits / 100) * 100 };
  return { label: 'Strong', color: 'var(--ok)', pct: 100 };
}
