/** What an SDK call failed with: the error code the SDK reports as `name`, the message and the HTTP status. */
export interface ServiceFailure {
  name: string;
  message: string;
  status: number | undefined;
}

/** Awaits an SDK call that must fail, and says how; throws when it succeeds. */
export async function failureOf(call: Promise<unknown>): Promise<ServiceFailure> {
  try {
    await call;
  } catch (error) {
    const e = error as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('the call succeeded');
}
