// @ts-check
// Formatting shared by every panel: counts, times (on the server's clock), durations, the
// countdown, instants in a named zone, and the tone (colour) of a status value.

import { state } from './state.js';

export const intFmt = new Intl.NumberFormat();
export const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** @param {unknown} v @returns {number | null} */
export const num = (v) => (v === null || v === undefined || v === '' ? null : Number(v));
/** @param {unknown} v */
export const fmtInt = (v) => {
  const n = num(v);
  return n === null ? '–' : intFmt.format(n);
};

/** The server's clock, as the last status answer showed it. */
export function serverNow() {
  return Date.now() + state.clockOffsetMs;
}

/** @param {string | null | undefined} iso */
export function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  const sameDay = new Date(serverNow()).toDateString() === d.toDateString();
  return (sameDay ? timeFmt : dateTimeFmt).format(d);
}

/** @param {string} iso */
export const fmtDateTime = (iso) => dateTimeFmt.format(new Date(iso));

/** @param {string | null | undefined} iso */
export function fmtAgo(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((serverNow() - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} days ago`;
}

/** @param {unknown} ms */
export function fmtDuration(ms) {
  const n = num(ms);
  if (n === null) return '–';
  return n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(n < 10_000 ? 2 : 1)} s`;
}

/** @param {number} ms */
export function fmtCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/**
 * An instant in a named zone, with the zone named ("Tue, Dec 1, 09:00 America/New_York").
 * @param {string} iso @param {string} zone
 */
export function fmtInZone(iso, zone) {
  const d = new Date(iso);
  try {
    const f = new Intl.DateTimeFormat(undefined, {
      weekday: 'short',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZone: zone,
    });
    return `${f.format(d)} ${zone}`;
  } catch {
    return `${dateTimeFmt.format(d)} (local time; zone ${zone} unknown here)`;
  }
}

/** 's' unless n is the number 1. @param {unknown} n */
export const plural = (n) => (n === 1 ? '' : 's');

/** @type {Record<string, string>} */
const TONES = {
  ok: 'good',
  closed: 'good',
  COMPLETED: 'good',
  completed: 'good',
  RUNNING: 'info',
  running: 'info',
  half_open: 'warn',
  probe: 'warn',
  partial: 'warn',
  PAUSED: 'warn',
  skipped: 'neutral',
  duplicate: 'neutral',
  QUEUED: 'neutral',
  failed: 'bad',
  open: 'bad',
  CANCELLED: 'bad',
};

/** The tone class suffix of a status value ('neutral' for any other). @param {string | null | undefined} value */
export const toneOf = (value) => (value ? TONES[value] : undefined) ?? 'neutral';
