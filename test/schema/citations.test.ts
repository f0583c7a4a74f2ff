// A reader of the repository can follow every reference in it: no comment, test or document cites
// an issue tracker's numbers, a working session, or a design file the repository does not hold.
// The design (invariants, state machines, releases and migrations) lives in docs/ARCHITECTURE.md; a cited
// docs/*.md file must exist. Reads the files git tracks (no database needed).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const TEXT = /\.(ts|js|mjs|sql|psql|md|css|html|json|toml|yml|yaml|sh)$|^\.ci\/run$/;

function trackedTextFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return out.split('\0').filter((f) => f && TEXT.test(f) && f !== 'package-lock.json' && existsSync(path.join(ROOT, f)));
}

/** Every line of the tracked text files that matches `re`, as "file:line: text". */
function grep(re: RegExp, files: string[], skip: (file: string) => boolean = () => false): string[] {
  const hits: string[] = [];
  for (const f of files) {
    if (skip(f)) continue;
    readFileSync(path.join(ROOT, f), 'utf8').split('\n').forEach((line, i) => {
      if (re.test(line)) hits.push(`${f}:${i + 1}: ${line.trim()}`);
    });
  }
  return hits;
}

describe('references a reader of the repository can follow', () => {
  const files = trackedTextFiles();
  const self = (f: string) => f === 'test/schema/citations.test.ts';

  it('reads the repository', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(files).toContain('docs/ARCHITECTURE.md');
  });

  it('cites no issue numbers', () => {
    expect(grep(/\bissues? #?\d+/i, files, self)).toEqual([]);
  });

  it('cites no design file outside the repository, and no working session', () => {
    expect(grep(/(?<![\w/])DESIGN\.md|\bthis session\b/i, files, self)).toEqual([]);
  });

  it('cites only docs that exist', () => {
    const missing: string[] = [];
    for (const f of files) {
      const text = readFileSync(path.join(ROOT, f), 'utf8');
      for (const m of text.matchAll(/\bdocs\/[\w.-]+\.md\b/g)) {
        if (!existsSync(path.join(ROOT, m[0]))) missing.push(`${f}: ${m[0]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('holds the invariants the tests cite, numbered 1 to 6', () => {
    const design = readFileSync(path.join(ROOT, 'docs', 'ARCHITECTURE.md'), 'utf8');
    const section = design.split('## Invariants')[1]?.split('\n## ')[0] ?? '';
    for (let n = 1; n <= 6; n++) expect(section).toMatch(new RegExp(`^${n}\\. \\*\\*`, 'm'));
  });
});
