import type { SchemaAttributeType } from '@aws-sdk/client-cognito-identity-provider';
import { closestName } from '../src/config/key-suggestion.js';
import type { RunSpec } from '../src/runs/run-spec.js';

/**
 * Why a run names an attribute its pool does not have (one line: the name, the pool, the closest
 * name the pool has), or undefined. A typo in `--attributes` would otherwise export without the
 * attribute, and one in `--exclude-attributes` or `--pseudonymize` would export in clear the
 * attribute it meant to drop or hash.
 * `schema` is DescribeUserPool's `SchemaAttributes`; without it nothing can be checked.
 */
export function unknownAttributeProblem(spec: RunSpec, schema: readonly SchemaAttributeType[] | undefined): string | undefined {
  const known = (schema ?? []).map((attribute) => attribute.Name).filter((name): name is string => name !== undefined && name !== '');
  if (known.length === 0) return undefined;
  const names = new Set(known);
  const lists: [what: string, names: readonly string[]][] = [
    ['attribute', spec.attributes ?? []],
    ['excluded attribute', spec.excludeAttributes ?? []],
    // `username` is a field of every record, not an attribute; a typo in any other name would export
    // in clear the attribute it meant to hash.
    ['pseudonymized attribute', (spec.pseudonymize ?? []).filter((name) => name !== 'username')],
  ];
  for (const [what, listed] of lists) {
    const unknown = listed.find((name) => !names.has(name));
    if (unknown === undefined) continue;
    const closest = closestName(unknown, known);
    return `${what} ${unknown} is not in the schema of user pool ${spec.userPoolId}${closest === undefined ? '' : ` (did you mean ${closest}?)`}: check the attribute names, custom ones are custom:<name>`;
  }
  return undefined;
}
