/**
 * `${VAR}` references in config values, so secrets and bucket names can come from the environment.
 */

const REFERENCE = /\$\$\{|\$\{([^}]*)(\}?)/g;
const NAMED_REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/** A value with its references replaced, or the first problem with them. */
export type Substituted = { readonly value: string; readonly problem?: undefined } | { readonly value?: undefined; readonly problem: string };

/**
 * Replaces `${VAR}` and `${VAR:-fallback}` (fallback when unset or empty, as in a shell); `$${` is a
 * literal `${`. An unset variable without fallback is a problem, not an empty string: a bucket name
 * silently becoming `s3:///cognito` is worse than a failed start.
 */
export function substituteEnvironment(text: string, env: NodeJS.ProcessEnv): Substituted {
  let problem: string | undefined;
  const value = text.replace(REFERENCE, (match, body: string | undefined, close: string | undefined) => {
    if (body === undefined) return '${';
    const reference = NAMED_REFERENCE.exec(body);
    const name = reference?.[1];
    const fallback = reference?.[2];
    if (!close) problem ??= `${JSON.stringify(match)} has no closing } (write $\${ for a literal \${)`;
    else if (name === undefined) problem ??= `${JSON.stringify(match)} is not an environment reference: expected \${NAME} or \${NAME:-fallback}`;
    else if (fallback?.includes('${')) problem ??= `${JSON.stringify(match)} nests references, which are not supported`;
    else {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problem ??= `environment variable ${name} is ${found === undefined ? 'not set' : 'empty'}`;
    }
    return match;
  });
  return problem === undefined ? { value } : { problem };
}
