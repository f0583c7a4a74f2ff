// E.164 phone numbers: a plus sign, then 7 to 15 digits, not starting with 0. The one rule, the
// same pattern as the database's CHECK constraints (campaigns_caller_id_is_e164,
// contacts_phone_is_e164, do_not_call_numbers_phone_is_e164); test/schema/e164.test.ts checks
// both sides against the same cases.

/** The E.164 pattern, exactly as the database's CHECK constraints write it. */
export const E164_PATTERN = /^\+[1-9][0-9]{6,14}$/;

/** True when s is an E.164 number (no spaces, no punctuation). */
export function isE164(s: string): boolean {
  return E164_PATTERN.test(s);
}
