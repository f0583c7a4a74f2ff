// Structured JSON log lines (one object per line on stdout / stderr), with secrets redacted.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

const SECRET_KEY = /secret|token|password|authorization|signature|api[_-]?key|db_?url|database_?url/i;

/** Replaces values of secret-looking keys and every known secret value found inside strings. */
export function redact(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (depth > 6) return '[depth]';
  if (typeof value === 'string') {
    let out = value;
    for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
    return out.replace(/(postgres(?:ql)?:\/\/[^:/\s]+:)[^@\s]+@/g, '$1[redacted]@');
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, secrets, depth + 1));
  if (value instanceof Error) return { name: value.name, message: redact(value.message, secrets, depth + 1) };
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, secrets, depth + 1);
    }
    return out;
  }
  return value;
}

export function createLogger(opts: {
  service: string;
  secrets?: readonly string[];
  write?: (line: string, level: LogLevel) => void;
  now?: () => Date;
}): Logger {
  const secrets = (opts.secrets ?? []).filter((s) => s.length > 0);
  const now = opts.now ?? (() => new Date());
  const write = opts.write ??
    ((line: string, level: LogLevel) => {
      if (level === 'error' || level === 'warn') console.error(line);
      else console.log(line);
    });
  const log = (level: LogLevel, event: string, fields: LogFields = {}) => {
    const record = { ts: now().toISOString(), level, service: opts.service, event, ...(redact(fields, secrets) as LogFields) };
    write(JSON.stringify(record), level);
  };
  return {
    log,
    info: (e, f) => log('info', e, f),
    warn: (e, f) => log('warn', e, f),
    error: (e, f) => log('error', e, f),
  };
}
