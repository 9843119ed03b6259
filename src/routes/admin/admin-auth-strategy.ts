/**
 * The name of the hapi auth strategy every `/admin/*` route uses (`options: { auth: ADMIN_AUTH }`);
 * the server registers the strategy (server/admin-auth.ts).
 */
export const ADMIN_AUTH = 'uaa-admin';
