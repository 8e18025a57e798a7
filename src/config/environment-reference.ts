/**
 * `${VAR}` references in config values, so secrets and bucket names can come from the environment.
 */

const REFERENCE = /\$\$\{|\$\{([^}]*)(\}?)/g;
const NAMED_REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * A value with its references replaced (and what was put in, so problems can keep it out of their
 * messages), or the first problem with them.
 */
export type Substituted =
  | { readonly value: string; readonly inserted: readonly Inserted[]; readonly problem?: undefined }
  | { readonly value?: undefined; readonly inserted?: undefined; readonly problem: string };

/** One reference as it was replaced: the variable's name and the text put in its place. */
export interface Inserted {
  readonly name: string;
  readonly text: string;
}

/** Variables the config file may not reference, whatever they hold: they are secrets. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  'ADMIN_TOKEN',
  'PSEUDONYMIZATION_KEY',
  'ROLE_EXTERNAL_IDS',
  'REDIS_URL',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
]);

/** Names that look like a secret's, e.g. MINIO_ROOT_PASSWORD, GITHUB_TOKEN, DB_SECRET_KEY. */
const SECRET_NAME = /(^|_)(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|CREDENTIALS?)(_|$)/i;

/** True for a variable whose value the config file must not pull in (a secret, or named like one). */
export function isSecretVariable(name: string): boolean {
  return SECRET_VARIABLES.has(name.toUpperCase()) || SECRET_NAME.test(name);
}

/**
 * Replaces `${VAR}` and `${VAR:-fallback}` (fallback when unset or empty, as in a shell); `$${` is a
 * literal `${`. An unset variable without fallback is a problem, not an empty string: a bucket name
 * silently becoming `s3:///cognito` is worse than a failed start.
 */
export function substituteEnvironment(text: string, env: NodeJS.ProcessEnv): Substituted {
  let problem: string | undefined;
  const inserted: Inserted[] = [];
  const value = text.replace(REFERENCE, (match, body: string | undefined, close: string | undefined) => {
    if (body === undefined) return '${';
    const reference = NAMED_REFERENCE.exec(body);
    const name = reference?.[1];
    const fallback = reference?.[2];
    if (!close) problem ??= `${JSON.stringify(match)} has no closing } (write $\${ for a literal \${)`;
    else if (name === undefined) problem ??= `${JSON.stringify(match)} is not an environment reference: expected \${NAME} or \${NAME:-fallback}`;
    else if (fallback?.includes('${')) problem ??= `${JSON.stringify(match)} nests references, which are not supported`;
    // Refused whether set or not: a secret in a config value would reach messages, Redis and manifests.
    else if (isSecretVariable(name)) problem ??= `\${${name}} names a secret, which the config file cannot use: secrets are read by the worker from its own environment`;
    else {
      const found = env[name];
      if (found !== undefined && found !== '') {
        inserted.push({ name, text: found });
        return found;
      }
      if (fallback !== undefined) return fallback;
      problem ??= `environment variable ${name} is ${found === undefined ? 'not set' : 'empty'}`;
    }
    return match;
  });
  return problem === undefined ? { value, inserted } : { problem };
}
