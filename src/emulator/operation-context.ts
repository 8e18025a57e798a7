import type { FaultInjector } from './fault-injector.js';
import type { PaginationTokenCodec } from './pagination-token.js';
import type { UserPoolStore } from './user-pool-store.js';
import type { WriteLog } from './write-recorder.js';

/** What every operation handler gets besides its request body. */
export interface OperationContext {
  readonly store: UserPoolStore;
  readonly codec: PaginationTokenCodec;
  readonly faults: FaultInjector;
  readonly requestId: string;
  /** The AWS account the request's credentials belong to; pools of other accounts are invisible to it. */
  readonly account: string;
  /** Wall-clock time of the request's arrival, epoch milliseconds. */
  readonly nowMs: number;
  /** Where write operations say whether they changed anything, and which messages they would have sent. */
  readonly writes: WriteLog;
}

/** A Cognito operation: validates its JSON body, acts, returns the JSON response body. */
export type OperationHandler = (body: Record<string, unknown>, context: OperationContext) => unknown;
