// CSV cells for exports opened in spreadsheets: quoted when needed (RFC 4180), and formula
// injection neutralised: a cell starting with = + - @ (or a tab / carriage return, which some
// spreadsheets skip before reading a formula) is prefixed with ' so it is shown as text, never run.
// (A phone number therefore reads '+15551230000; the import strips that ' again.)

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: unknown): string {
  let text = value === null || value === undefined
    ? ''
    : value instanceof Date
    ? value.toISOString()
    : typeof value === 'object'
    ? JSON.stringify(value)
    : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: readonly unknown[]): string {
  return values.map(csvCell).join(',') + '\r\n';
}
