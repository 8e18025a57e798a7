import { type Alias, isCollection, LineCounter, parseDocument, visit } from 'yaml';

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
  let collectionKey: number | undefined;
  visit(document, {
    Alias(_key, node) {
      if (node.resolve(document) !== undefined) return undefined;
      alias = node;
      return visit.BREAK;
    },
    // The parser would stringify such a key and print it in a process warning: the file's text on stderr.
    Pair(_key, pair) {
      if (!isCollection(pair.key)) return undefined;
      collectionKey = pair.key.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  if (alias !== undefined) {
    // Quoted only when it looks like the cron field it most likely is: the file's text stays out of messages.
    const shown = /^[\d/,-]{1,8}$/.test(alias.source) ? `*${alias.source}` : 'a value starting with *';
    return {
      problem: `${at(alias.range?.[0] ?? 0)}: ${shown} is read as a YAML alias to an undefined anchor; quote values that start with *, e.g. "*/5 * * * *"`,
    };
  }
  if (collectionKey !== undefined) return { problem: `${at(collectionKey)}: a key is a list or mapping: keys must be names` };
  const [error] = document.errors;
  // The parser's messages can quote the text (`Unresolved tag: !…`): keep what comes before that.
  if (error !== undefined) return { problem: `${at(error.pos[0])}: ${withoutQuote(error.message)}` };
  try {
    return { value: document.toJS({ maxAliasCount: 100 }) };
  } catch (cause) {
    return { problem: `${source}: ${withoutQuote((cause as Error).message)}` };
  }
}

/** A parser message's first line up to where it would quote the file, e.g. `Unresolved tag`. */
function withoutQuote(message: string): string {
  return (message.split('\n')[0] ?? '').split(': ')[0] ?? '';
}
