/**
 * The roles an API key has. Apart from the key store so that `keys create` can offer them without
 * loading it (and zod) for every command.
 */
export const ROLES = ['ingest', 'analyst', 'admin'] as const;
export type Role = (typeof ROLES)[number];
