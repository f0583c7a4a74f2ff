// CSV cells for exports opened in spreadsheets: quoted when needed (RFC 4180), and formula
// injection neutralised.
//
// Formula injection: a cell starting with = + - @ (or a tab / carriage return, which some
// spreadsheets skip before reading a formula) is prefixed with ' so it is shown as text, never run.
// (A phone number therefore reads '+15551230000; the import strips that ' again.)
//
// Locales: Excel opens a .csv with the locale's list separator, ';' in much of Europe. Such a reader
// splits our comma-separated line on ';' (and on line breaks), and honours a quote only at the start
// of what it takes for a field, so the text after a ';', a tab, a CR or a LF inside a value starts
// a cell of its own there: `x;=cmd|...` would be the cells `x` and `=cmd|...`. So the guard also
// applies after each of those characters (spaces and quotes between are skipped, as a reader may),
// and a cell holding ';' or a tab is quoted too (besides " , CR LF), so a ';' reader that does take
// the quote keeps the value in one cell.

const FORMULA_START = /^[=+\-@\t\r]/;
/** Where a ';' or tab-separated reader may start a cell inside a value: after ; tab CR LF. */
const FORMULA_AFTER_BREAK = /([;\t\r\n][ "]*)(?=[=+\-@])/g;

export function csvCell(value: unknown): string {
  let text = value === null || value === undefined
    ? ''
    : value instanceof Date
    ? value.toISOString()
    : typeof value === 'object'
    ? JSON.stringify(value)
    : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  text = text.replace(FORMULA_AFTER_BREAK, "$1'");
  return /[",;\t\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: readonly unknown[]): string {
  return values.map(csvCell).join(',') + '\r\n';
}
