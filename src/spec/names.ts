/**
 * Name rules shared by the spec generator and the dictionary.
 *
 * The KMIP XML and JSON encodings (KMIP Profiles, "Normalizing Names", 5.4.1.1 / 5.5.1.1) name
 * tags, item types and enumeration values by a CamelCase form of the specification's name. The
 * OASIS test cases use exactly this form ("PKCS#11 Function" -> "PKCS_11Function", "X.509" ->
 * "X_509", "Pre-Active" -> "PreActive", "3DES" -> "DES3"), so it is implemented once, here.
 */

/** A non-word character followed by a word start (a letter, then a lower-case letter). */
const NON_WORD_AT_WORD_START = /[^A-Za-z0-9_]([A-Za-z][a-z])/g;
/** Everything that is neither a word character nor the space that separates words. */
const OTHER_NON_WORD = /[^A-Za-z0-9_ ]/g;
const LEADING_DIGITS = /^(\d+)(.*)$/s;

/** The KMIP Profiles name normalisation, step by step as the Profiles document lists it. */
export function normalizeName(specName: string): string {
  // 1. Round brackets become spaces.
  let s = specName.replace(/[()]/g, ' ');
  // 2. A non-word char at the start of a word ("IV/Counter", "Pre-Active") becomes a space.
  s = s.replace(NON_WORD_AT_WORD_START, ' $1');
  // 3. Any other non-word char ("PKCS#11", "X.509", "SHA-256") becomes an underscore.
  s = s.replace(OTHER_NON_WORD, '_');
  const words = s.split(' ');
  // 4. Digits that start the first word move to its end, so the result is an identifier ("3DES").
  words[0] = (words[0] ?? '').replace(LEADING_DIGITS, '$2$1');
  // 5. and 6. Capitalise the first letter of each word and join the words.
  return words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

