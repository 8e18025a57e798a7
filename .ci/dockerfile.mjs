// @ts-check
/**
 * A small Dockerfile reader for .ci/image-check.mjs (and test/unit/image-build.test.ts): the
 * instructions this project's Dockerfile uses, parsed the way BuildKit reads them, and the
 * .dockerignore rules applied to the build context. Anything it does not understand is an error,
 * so a Dockerfile change the check cannot follow fails loudly instead of being skipped.
 */

/**
 * @typedef {object} Instruction
 * @property {string} keyword  upper-case: FROM, COPY, RUN, …
 * @property {string} args     the rest of the line, continuations joined
 * @property {number} line     1-based line of the instruction's first line
 */

/**
 * @typedef {object} Copy
 * @property {string | undefined} from  the stage (name or index) of `--from`, if any
 * @property {string[]} sources
 * @property {string} dest
 * @property {number} line
 */

/**
 * @typedef {object} Stage
 * @property {string} image            the FROM image, e.g. node:24-bookworm-slim
 * @property {string | undefined} name the AS name
 * @property {string} workdir          the WORKDIR in effect at the end (absolute)
 * @property {Array<{ kind: 'COPY', copy: Copy, workdir: string } | { kind: 'RUN', command: string[], shell: boolean, line: number, workdir: string, env: Record<string, string> }>} steps
 * @property {Record<string, string>} env  ENV at the end of the stage
 * @property {string[] | undefined} entrypoint  exec form only
 * @property {string[] | undefined} cmd         exec form only
 * @property {string | undefined} healthcheck   the HEALTHCHECK's CMD, shell form
 * @property {string | undefined} user
 * @property {string[]} expose
 */

/** Instructions the check knows how to replay (or knows it may ignore). */
const KNOWN = new Set(['FROM', 'WORKDIR', 'COPY', 'RUN', 'ENV', 'USER', 'EXPOSE', 'HEALTHCHECK', 'ENTRYPOINT', 'CMD', 'LABEL', 'ARG']);

/**
 * Splits a Dockerfile into instructions: `\` continues a line, and comment lines (also those inside
 * a continuation, as BuildKit allows) are dropped. Parser directives (`# syntax=`) are comments here.
 * @param {string} text
 * @returns {Instruction[]}
 */
export function instructions(text) {
  /** @type {Instruction[]} */
  const out = [];
  const lines = text.split(/\r?\n/);
  /** @type {{ parts: string[], line: number } | undefined} */
  let open;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const trimmed = raw.trim();
    if (trimmed.startsWith('#')) continue;
    if (open === undefined && trimmed === '') continue;
    const continued = /(^|[^\\])\\$/.test(trimmed) || trimmed === '\\';
    const part = continued ? trimmed.slice(0, -1) : trimmed;
    if (open === undefined) open = { parts: [], line: i + 1 };
    if (part.trim() !== '') open.parts.push(part.trim());
    if (!continued) {
      const joined = open.parts.join(' ');
      const match = /^(\S+)\s*(.*)$/s.exec(joined);
      if (match) out.push({ keyword: (match[1] ?? '').toUpperCase(), args: match[2] ?? '', line: open.line });
      open = undefined;
    }
  }
  if (open !== undefined) throw new Error(`Dockerfile:${open.line}: a line continuation runs past the end of the file`);
  return out;
}

/**
 * The words of a shell-like argument list: whitespace-separated, with "…" and '…' quoting.
 * @param {string} text
 * @returns {string[]}
 */
export function words(text) {
  /** @type {string[]} */
  const out = [];
  let current = '';
  let inWord = false;
  /** @type {string | undefined} */
  let quote;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(current);
      current = '';
      inWord = false;
    } else if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new Error(`unterminated ${quote} in: ${text}`);
  if (inWord) out.push(current);
  return out;
}

/**
 * `${NAME}`, `${NAME:-default}` and `$NAME` replaced from `env` (what Docker does in ENV, WORKDIR
 * and COPY; unset names become empty).
 * @param {string} text
 * @param {Record<string, string>} env
 */
function expand(text, env) {
  /**
   * @param {string} _all
   * @param {string | undefined} braced
   * @param {string | undefined} fallback
   * @param {string | undefined} bare
   */
  const replace = (_all, braced, fallback, bare) => {
    const value = env[braced ?? bare ?? ''];
    return value !== undefined && value !== '' ? value : (fallback ?? '');
  };
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, replace);
}

/**
 * Exec form (a JSON array) or undefined for shell form.
 * @param {string} args
 * @returns {string[] | undefined}
 */
function execForm(args) {
  if (!args.trimStart().startsWith('[')) return undefined;
  const parsed = /** @type {unknown} */ (JSON.parse(args));
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) throw new Error(`expected a JSON array of strings: ${args}`);
  return /** @type {string[]} */ (parsed);
}

/**
 * Leading `--flag=value` options of COPY, HEALTHCHECK and RUN.
 * @param {string} args
 * @returns {{ flags: Record<string, string>, rest: string }}
 */
function leadingFlags(args) {
  /** @type {Record<string, string>} */
  const flags = {};
  let rest = args.trimStart();
  for (let match = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest); match; match = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest)) {
    flags[match[1] ?? ''] = match[2] ?? 'true';
    rest = rest.slice(match[0].length);
  }
  return { flags, rest };
}

/**
 * The stages of a Dockerfile, each with the COPY and RUN steps in order and the ENV, WORKDIR,
 * ENTRYPOINT, CMD and HEALTHCHECK in effect at its end.
 * @param {string} text
 * @returns {Stage[]}
 */
export function parseDockerfile(text) {
  /** @type {Stage[]} */
  const stages = [];
  for (const { keyword, args, line } of instructions(text)) {
    if (!KNOWN.has(keyword)) throw new Error(`Dockerfile:${line}: ${keyword} is not supported by .ci/dockerfile.mjs; teach it, or the image check would skip it`);
    if (keyword === 'FROM') {
      const [image = '', as, name] = words(leadingFlags(args).rest);
      const from = stages.find((stage) => stage.name === image);
      stages.push({
        image: from ? from.image : image,
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        // A stage built on an earlier one starts from its files, ENV and WORKDIR.
        workdir: from ? from.workdir : '/',
        steps: from ? [...from.steps] : [],
        env: from ? { ...from.env } : {},
        entrypoint: from?.entrypoint,
        cmd: from?.cmd,
        healthcheck: from?.healthcheck,
        user: from?.user,
        expose: from ? [...from.expose] : [],
      });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile:${line}: ${keyword} before FROM`);
    switch (keyword) {
      case 'WORKDIR': {
        const dir = expand(args.trim(), stage.env);
        stage.workdir = dir.startsWith('/') ? dir : posixJoin(stage.workdir, dir);
        break;
      }
      case 'ENV': {
        const parts = words(args);
        if (parts.length > 0 && !(parts[0] ?? '').includes('=')) {
          // Legacy `ENV NAME value with spaces`.
          const [name = '', ...value] = parts;
          stage.env[name] = expand(value.join(' '), stage.env);
        } else {
          for (const part of parts) {
            const at = part.indexOf('=');
            if (at <= 0) throw new Error(`Dockerfile:${line}: expected NAME=value in ENV, got ${part}`);
            stage.env[part.slice(0, at)] = expand(part.slice(at + 1), stage.env);
          }
        }
        break;
      }
      case 'COPY': {
        const { flags, rest } = leadingFlags(args);
        for (const flag of Object.keys(flags)) {
          if (!['from', 'chown', 'chmod', 'link'].includes(flag)) throw new Error(`Dockerfile:${line}: COPY --${flag} is not supported by the image check`);
        }
        const list = (execForm(rest) ?? words(rest)).map((word) => expand(word, stage.env));
        if (list.length < 2) throw new Error(`Dockerfile:${line}: COPY needs a source and a destination`);
        const dest = /** @type {string} */ (list.pop());
        stage.steps.push({ kind: 'COPY', copy: { from: flags.from, sources: list, dest, line }, workdir: stage.workdir });
        break;
      }
      case 'RUN': {
        const { flags, rest } = leadingFlags(args);
        if (Object.keys(flags).length > 0) throw new Error(`Dockerfile:${line}: RUN --${Object.keys(flags).join(', --')} is not supported by the image check`);
        const exec = execForm(rest);
        stage.steps.push({ kind: 'RUN', command: exec ?? [rest], shell: exec === undefined, line, workdir: stage.workdir, env: { ...stage.env } });
        break;
      }
      case 'ENTRYPOINT':
        stage.entrypoint = execForm(args);
        if (!stage.entrypoint) throw new Error(`Dockerfile:${line}: the image check needs ENTRYPOINT in exec form (a JSON array)`);
        break;
      case 'CMD':
        stage.cmd = execForm(args);
        if (!stage.cmd) throw new Error(`Dockerfile:${line}: the image check needs CMD in exec form (a JSON array)`);
        break;
      case 'HEALTHCHECK': {
        const { rest } = leadingFlags(args);
        if (/^NONE$/i.test(rest.trim())) stage.healthcheck = undefined;
        else {
          const match = /^CMD\s+(.*)$/s.exec(rest.trim());
          if (!match) throw new Error(`Dockerfile:${line}: expected HEALTHCHECK [options] CMD …`);
          const exec = execForm(match[1] ?? '');
          if (exec) throw new Error(`Dockerfile:${line}: the image check runs HEALTHCHECK CMD in shell form only`);
          stage.healthcheck = match[1];
        }
        break;
      }
      case 'USER':
        stage.user = args.trim();
        break;
      case 'EXPOSE':
        stage.expose.push(...words(args));
        break;
      default:
        // LABEL and ARG: nothing to replay.
        break;
    }
  }
  if (stages.length === 0) throw new Error('Dockerfile: no FROM');
  return stages;
}

/**
 * @param {string} base
 * @param {string} path
 */
export function posixJoin(base, path) {
  /** @type {string[]} */
  const parts = [];
  for (const part of `${base}/${path}`.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/**
 * A .dockerignore pattern as a RegExp over context-relative paths (Go's filepath.Match plus `**`,
 * as Docker reads them): a pattern that matches a directory excludes everything under it.
 * @param {string} pattern
 */
function ignoreRegExp(pattern) {
  const clean = posixJoin('/', pattern).slice(1);
  let source = '';
  for (let i = 0; i < clean.length; i++) {
    const c = clean[i] ?? '';
    if (c === '*' && clean[i + 1] === '*') {
      source += clean[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += clean[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}(?:/.*)?$`);
}

/**
 * Whether .dockerignore leaves `path` (context-relative, forward slashes) in the build context.
 * @param {string} dockerignore  the file's text
 * @returns {(path: string) => boolean}
 */
export function contextFilter(dockerignore) {
  const rules = dockerignore
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => (line.startsWith('!') ? { keep: true, re: ignoreRegExp(line.slice(1).trim()) } : { keep: false, re: ignoreRegExp(line) }));
  return (path) => {
    let kept = true;
    for (const rule of rules) if (rule.re.test(path)) kept = rule.keep;
    return kept;
  };
}

/**
 * The context-relative paths a COPY source names: the file itself, or every file under it when it
 * is a directory (wildcards `*` and `?` in the last part are allowed).
 * @param {readonly string[]} files  the build context, context-relative paths of files
 * @param {string} source
 * @returns {{ path: string, relative: string }[]}  each file, and where it goes under the destination
 *   directory: a file by its name, a directory's files by their paths inside it
 */
export function contextMatches(files, source) {
  const clean = posixJoin('/', source).slice(1);
  if (clean === '') return files.map((path) => ({ path, relative: path }));
  const wildcard = /[*?[]/.test(clean);
  const re = wildcard ? new RegExp(`^${clean.split('').map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`) : undefined;
  /** @type {{ path: string, relative: string }[]} */
  const out = [];
  for (const path of files) {
    if (re) {
      const parts = path.split('/');
      for (let n = 1; n <= parts.length; n++) {
        const head = parts.slice(0, n).join('/');
        if (re.test(head)) {
          // A matched file keeps its name; a matched directory gives its contents (as Docker copies them).
          out.push({ path, relative: n === parts.length ? (parts.at(-1) ?? '') : parts.slice(n).join('/') });
          break;
        }
      }
    } else if (path === clean) out.push({ path, relative: path.split('/').at(-1) ?? path });
    else if (path.startsWith(`${clean}/`)) out.push({ path, relative: path.slice(clean.length + 1) });
  }
  return out;
}
