// What a credential may do. Each credential holds one role; each holds everything the roles below it hold.
//
//   viewer    reads: status, why-not-now, campaigns and their export, provider accounts, the
//             do-not-call list and its export, the audit trail
//   operator  also runs campaigns (create, edit, pause / resume / cancel, import contacts), the
//             do-not-call list (add, remove, import) and manual ticks
//   admin     also manages named tokens (list, create, revoke) and provider accounts and their
//             rates (create, change, delete)
//
// ADMIN_TOKEN is admin; a named token has the role it was made with (never above its maker's); a
// Supabase session has the role in its app_metadata.role claim.

import { z } from 'zod';

export type OperatorRole = 'viewer' | 'operator' | 'admin';
export const OPERATOR_ROLES: readonly OperatorRole[] = ['viewer', 'operator', 'admin'];
export const OperatorRoleSchema = z.enum(['viewer', 'operator', 'admin']);

/** viewer 0 < operator 1 < admin 2 (as public._operator_role_rank, less one). */
export function roleRank(role: OperatorRole): number {
  return OPERATOR_ROLES.indexOf(role);
}

/** Does `held` cover everything `needed` may do? */
export function roleAtLeast(held: OperatorRole, needed: OperatorRole): boolean {
  return roleRank(held) >= roleRank(needed);
}
