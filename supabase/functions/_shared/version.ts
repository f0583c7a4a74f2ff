// Written by scripts/release.ts from package.json's version; test/schema/releases.test.ts checks
// that they agree. The version the functions report (scheduler-admin GET /status, the dashboard).
export const VERSION = '1.0.0';
