// The CSV export as a spreadsheet reads it, with ',' or ';' as the list separator (Excel takes the
// locale's: ';' in much of Europe). Whatever a contact's fields hold, no cell may come out starting
// with a formula character, and a cell stays one cell.

import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { csvCell, csvLine } from '../../supabase/functions/_shared/csv-export.ts';

const FORMULA = /^[=+\-@\t\r]/;

const hostile = [
  "x;=cmd|' /C calc'!A0",
  'Ann;+1',
  'a;-2;@SUM(A1)',
  ';=1+1',
  'tab\t=1+1',
  '=HYPERLINK("http://evil")',
  '@cmd',
  'a,b',
  'say "hi"',
  'line\r\n=2',
  { note: 'x;=cmd' },
];

/** Every cell a reader with this separator makes of the text (quotes honoured only at a field's start). */
function cellsAs(delimiter: ',' | ';' | '\t', text: string): string[] {
  return (parse(text, { delimiter, relax_quotes: true, relax_column_count: true, skip_empty_lines: true }) as string[][]).flat();
}

describe('csv export', () => {
  it('quotes every cell holding a semicolon or a tab, besides " , CR LF', () => {
    expect(csvCell('x;y')).toBe('"x;y"');
    expect(csvCell('a\tb')).toBe('"a\tb"');
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
  });

  it('keeps the formula guard at the start of a cell, and applies it after ; tab CR LF inside one', () => {
    expect(['=1+1', '+1', '-2', '@SUM(A1)', '\t=1', '=a;b'].map(csvCell)).toEqual([
      "'=1+1",
      "'+1",
      "'-2",
      "'@SUM(A1)",
      `"'\t'=1"`,
      `"'=a;b"`,
    ]);
    expect(csvCell("x;=cmd|' /C calc'!A0")).toBe(`"x;'=cmd|' /C calc'!A0"`);
    expect(csvCell('a; "=1')).toBe(`"a; ""'=1"`);
    expect(csvCell('a\n@x')).toBe(`"a\n'@x"`);
    expect(csvCell('a;b')).toBe('"a;b"');
  });

  it.each([',', ';', '\t'] as const)('read with %j as the separator, no cell of an export starts a formula', (d) => {
    const text = csvLine(['id', 'name', 'note']) + csvLine(['1', ...hostile]) + csvLine(['2', 'Ann;+1', 'plain']);
    const cells = cellsAs(d, text);
    for (const cell of cells) expect(cell.trimStart().replace(/^"+/, ''), JSON.stringify(cell)).not.toMatch(FORMULA);
  });

  it('read with "," (RFC 4180), every value comes back whole, one cell each', () => {
    const values = ['1', ...hostile.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)))];
    const cells = cellsAs(',', csvLine(values));
    expect(cells).toHaveLength(values.length);
    // What changed is only the ' before a formula character.
    cells.forEach((cell, i) => expect(cell.replace(/'(?=[=+\-@\t])/g, '')).toBe(values[i]));
  });
});
