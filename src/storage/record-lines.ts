import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import type { ObjectSink } from './object-sink.js';

/**
 * The lines of a published data file (`.ndjson`, or `.ndjson.gz` gunzipped on the way), streamed:
 * memory stays at a chunk and a line, whatever the file's size. Throws when the object is missing.
 */
export async function* readLines(sink: ObjectSink, key: string): AsyncGenerator<string, void, undefined> {
  const stream = await sink.readStream(key);
  if (!stream) throw new Error(`${sink.urlOf(key)} is missing: a snapshot's data file was deleted after it was published`);
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

/** The key of `url` under `sink` (a published file's URL as the manifest lists it), or undefined if it is elsewhere. */
export function keyOfUrl(sink: ObjectSink, url: string): string | undefined {
  const root = sink.urlOf('');
  return url.startsWith(root) ? url.slice(root.length) : undefined;
}
