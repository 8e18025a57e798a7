import { ListUsersCommand, type ListUsersCommandOutput, type UserType } from '@aws-sdk/client-cognito-identity-provider';
import { cognitoPages, MAX_PAGE_SIZE, type CognitoPage, type PagingOptions } from './cognito-pages.js';

/** Where to walk ListUsers. */
export interface UserPagesOptions extends PagingOptions {
  readonly userPoolId: string;
  /** Server-side filter, already validated and escaped; null for the whole pool. */
  readonly filter: string | null;
}

/**
 * The pages of a pool (or of one filter over it): ListUsers with Limit 60, following
 * PaginationToken until a response has none. Draws on the account's UserList quota.
 */
export function listUserPages(options: UserPagesOptions): AsyncGenerator<CognitoPage<UserType>, void, undefined> {
  const { userPoolId, filter } = options;
  return cognitoPages<ListUsersCommandOutput, UserType>(
    {
      what: `ListUsers on user pool ${userPoolId}`,
      send: (client, token) =>
        client.send(
          new ListUsersCommand({ UserPoolId: userPoolId, Limit: MAX_PAGE_SIZE, ...(filter === null ? {} : { Filter: filter }), ...(token ? { PaginationToken: token } : {}) }),
        ),
      items: (output) => output.Users,
      next: (output) => output.PaginationToken,
    },
    options,
  );
}
