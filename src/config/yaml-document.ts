import { type Alias, LineCounter, parseDocument, visit } from 'yaml';

/** A YAML (or JSON) text as plain data, or the first problem with it, located by line and column. */
export type ParsedYaml = { readonly value: unknown; readonly problem?: undefined } | { readonly value?: undefined; readonly problem: string };

/**
 * Parses YAML for a config file, with messages an operator can act on. `source` names the file in
 * them. Only the first syntax error is reported: later ones are mostly echoes of it.
 */
export function parseYamlDocument(text: string, source: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { prettyErrors: false, lineCounter });
  const at = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${source}: line ${line}, column ${col}`;
  };
  // An unquoted `*/5 * * * *` is an alias in YAML; the parser's own message for it says nothing useful.
  let alias: Alias | undefined;
  visit(document, {
    Alias(_key, node) {
      if (node.resolve(document) !== undefined) return undefined;
      alias = node;
      return visit.BREAK;
    },
  });
  if (alias !== undefined) {
    return {
      problem: `${at(alias.range?.[0] ?? 0)}: *${alias.source} is read as a YAML alias to an undefined anchor; quote values that start with *, e.g. "*/5 * * * *"`,
    };
  }
  const [error] = document.errors;
  if (error !== undefined) return { problem: `${at(error.pos[0])}: ${error.message.split('\n')[0]}` };
  try {
    return { value: document.toJS({ maxAliasCount: 100 }) };
  } catch (cause) {
    return { problem: `${source}: ${(cause as Error).message}` };
  }
}
