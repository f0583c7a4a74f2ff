// Released migrations are frozen (docs/ARCHITECTURE.md, "Releases and migrations"): a project that
// ran `supabase db push` never applies an edited migration again, so every file a release manifest
// (supabase/releases/<version>.json, written by `npm run release`) names must still be there,
// byte for byte, and every migration added after it must sort after the last released one. The
// version the functions report (_shared/version.ts) is package.json's. No database needed.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  compareVersions,
  currentMigrations,
  readReleases,
  releaseProblems,
  REPO,
  versionSource,
  withChangelogHeading,
} from '../../scripts/release.ts';
import { VERSION } from '../../supabase/functions/_shared/version.ts';

const packageVersion = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

describe('released migrations', () => {
  it('has a manifest for the package version, naming migrations with their SHA-256', () => {
    const releases = readReleases();
    expect(releases.map((r) => r.version)).toContain(packageVersion);
    for (const r of releases) {
      expect(r.migrations.length, r.version).toBeGreaterThan(0);
      for (const m of r.migrations) {
        expect(m.file).toMatch(/^\d{14}_[a-z0-9_]+\.sql$/);
        expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
      }
      // A later release holds every migration of the earlier ones, in the same order.
      const files = r.migrations.map((m) => m.file);
      expect(files, r.version).toEqual([...files].sort());
    }
    for (let i = 1; i < releases.length; i++) {
      const before = releases[i - 1]!.migrations;
      expect(releases[i]!.migrations.slice(0, before.length)).toEqual(before);
    }
  });

  it('keeps every released migration present and unchanged, and every newer one after them', () => {
    expect(releaseProblems(readReleases(), currentMigrations())).toEqual([]);
  });

  it('catches an edited, a removed and a misplaced migration', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ccs-release-'));
    try {
      mkdirSync(path.join(dir, 'm'));
      const write = (file: string, sql: string) => writeFileSync(path.join(dir, 'm', file), sql);
      write('20270101000100_a.sql', 'create table public.a (id int);');
      write('20270101000200_b.sql', 'create table public.b (id int);');
      const released = [{ version: '1.0.0', migrations: currentMigrations(path.join(dir, 'm')) }];
      expect(releaseProblems(released, currentMigrations(path.join(dir, 'm')))).toEqual([]);

      write('20270101000300_c.sql', 'alter table public.a add column x int;');
      expect(releaseProblems(released, currentMigrations(path.join(dir, 'm')))).toEqual([]);

      write('20270101000150_early.sql', 'create table public.e (id int);');
      write('20270101000100_a.sql', 'create table public.a (id bigint);');
      rmSync(path.join(dir, 'm', '20270101000200_b.sql'));
      const problems = releaseProblems(released, currentMigrations(path.join(dir, 'm')));
      expect(problems).toHaveLength(3);
      expect(problems[0]).toMatch(/20270101000100_a\.sql \(released in 1\.0\.0\) was edited/);
      expect(problems[1]).toMatch(/20270101000200_b\.sql \(released in 1\.0\.0\) is missing/);
      expect(problems[2]).toMatch(/20270101000150_early\.sql is not released but sorts before 20270101000200_b\.sql/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the version', () => {
  it("is package.json's version in _shared/version.ts (written by npm run release)", () => {
    expect(VERSION).toBe(packageVersion);
    expect(readFileSync(path.join(REPO, 'supabase', 'functions', '_shared', 'version.ts'), 'utf8')).toBe(
      versionSource(packageVersion),
    );
  });

  it('has its CHANGELOG.md entry, and the lock file says the same version', () => {
    const changelog = readFileSync(path.join(REPO, 'CHANGELOG.md'), 'utf8');
    expect(changelog).toMatch(new RegExp(`^## \\[${packageVersion.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'));
    expect(changelog).toMatch(/^## \[Unreleased\]$/m);
    const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
      version: string;
      packages: Record<string, { version?: string }>;
    };
    expect([lock.version, lock.packages['']?.version]).toEqual([packageVersion, packageVersion]);
  });

  it('orders versions by number and adds a changelog heading once, under [Unreleased]', () => {
    expect(compareVersions('1.10.0', '1.9.0')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
    expect(compareVersions('0.9.9', '1.0.0')).toBeLessThan(0);
    const before = '# Changelog\n\n## [Unreleased]\n\n### Added\n\n- x\n\n## [1.0.0] - 2026-12-06\n';
    const after = withChangelogHeading(before, '1.1.0', '2027-01-02');
    expect(after).toBe(
      '# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2027-01-02\n\n### Added\n\n- x\n\n## [1.0.0] - 2026-12-06\n',
    );
    expect(withChangelogHeading(after, '1.1.0', '2027-01-03')).toBe(after);
  });
});
