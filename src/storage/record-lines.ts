import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import type { ObjectSink } from './object-sink.js';
import { parquetRecords } from './parquet-file.js';
import { TABLE_COLUMNS } from './table-columns.js';

/**
 * The lines of a published data file (`.ndjson`, or `.ndjson.gz` gunzipped on the way), streamed:
 * memory stays at a chunk and a line, whatever the file's size. A `.parquet` file gives each record
 * as the NDJSON line the same record has (same fields, order and values), so readers and the
 * change tables' diff compare records across formats; it is read whole (Parquet's footer is at its
 * end), then decoded a row group at a time. Throws when the object is missing.
 */
export async function* readLines(sink: ObjectSink, key: string): AsyncGenerator<string, void, undefined> {
  const stream = await sink.readStream(key);
  if (!stream) throw new Error(`${sink.urlOf(key)} is missing: a snapshot's data file was deleted after it was published`);
  if (key.endsWith('.parquet')) {
    yield* parquetLines(sink, key, stream);
    return;
  }
  const source = key.endsWith('.gz') ? stream.pipe(createGunzip()) : stream;
  // A read error of the object surfaces through the gunzip stream too.
  if (source !== stream) stream.once('error', (error) => source.destroy(error));
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      const text = rest + decoder.write(chunk);
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        if (end > start) yield text.slice(start, end);
        start = end + 1;
      }
      rest = text.slice(start);
    }
    rest += decoder.end();
    if (rest !== '') yield rest;
  } finally {
    stream.destroy();
    if (source !== stream) source.destroy();
  }
}

async function* parquetLines(sink: ObjectSink, key: string, stream: AsyncIterable<Buffer> & { destroy(): void }): AsyncGenerator<string, void, undefined> {
  const table = key.slice(0, key.indexOf('/'));
  const columns = TABLE_COLUMNS[table];
  if (!columns) throw new Error(`${sink.urlOf(key)} is not in a table folder this tool writes`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk);
      size += chunk.length;
    }
  } finally {
    stream.destroy();
  }
  // One copy, into a buffer of its own (Buffer.concat may land in Node's shared pool).
  const bytes = new Uint8Array(new ArrayBuffer(size));
  let at = 0;
  for (const chunk of chunks.splice(0)) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  let records;
  try {
    records = parquetRecords(bytes, columns);
    for await (const record of records) yield JSON.stringify(record);
  } catch (error) {
    throw new Error(`${sink.urlOf(key)} is not a Parquet file of the ${table} table (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
  }
}

/**
 * The key of `url` under `sink` (a published file's URL as a manifest lists it), or undefined if it
 * is elsewhere or is not a plain key: `.`/`..` or empty segments, `%` escapes, backslashes or control
 * characters could resolve to a path outside the destination root, so none of them is taken.
 */
export function keyOfUrl(sink: ObjectSink, url: string): string | undefined {
  const root = sink.urlOf('');
  if (!url.startsWith(root)) return undefined;
  const key = url.slice(root.length);
  return isPlainKey(key) ? key : undefined;
}

/** Whether `key` is a plain relative key: non-empty segments, none `.` or `..`, no `%`, `\\` or control characters. */
export function isPlainKey(key: string): boolean {
  // eslint-disable-next-line no-control-regex
  return key !== '' && key.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..' && !/[%\\\u0000-\u001f\u007f]/.test(segment));
}
