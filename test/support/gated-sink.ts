import type { ObjectSink } from '../../src/storage/object-sink.js';

/** A sink whose writers stop just before their staged file becomes durable, until the test opens the gate. */
export interface GatedSink {
  readonly sink: ObjectSink;
  /** Resolves once a writer has reached the gate (finished streaming, about to commit). */
  readonly reached: Promise<void>;
  /** Lets every held writer go on. */
  open(): void;
}

/**
 * Wraps a real sink so that a worker "stalls inside its upload": its bytes are written, its fence
 * check is behind it, and the commit that would make the object durable waits for `open()`. This is
 * the instant a paused or partitioned worker comes back from.
 */
export function gateWrites(inner: ObjectSink): GatedSink {
  let reach: () => void = () => undefined;
  let release: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const sink: ObjectSink = Object.create(inner) as ObjectSink;
  sink.openStaged = async (key, stagingKey, contentType) => {
    const writer = await inner.openStaged(key, stagingKey, contentType);
    return {
      stream: writer.stream,
      location: writer.location,
      commit: async () => {
        reach();
        await gate;
        return writer.commit();
      },
      abort: () => writer.abort(),
    };
  };
  return { sink, reached, open: () => release() };
}
