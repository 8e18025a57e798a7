import {
  ListGroupsCommand,
  ListUsersInGroupCommand,
  type GroupType,
  type ListGroupsCommandOutput,
  type ListUsersInGroupCommandOutput,
  type UserType,
} from '@aws-sdk/client-cognito-identity-provider';
import { cognitoPages, MAX_PAGE_SIZE, walkCapOf, type CognitoPage, type PagingOptions } from './cognito-pages.js';

/** Cognito's limit on groups per pool. */
export const MAX_GROUPS_PER_POOL = 10_000;

/** The most groups a ListGroups walk returns before it is stopped as runaway: ten times Cognito's limit, plus 10,000. */
export const MAX_GROUPS_WALKED = walkCapOf(MAX_GROUPS_PER_POOL, 10_000) as number;

/**
 * The pages of a pool's groups: ListGroups with Limit 60, following NextToken. ListGroups is in the
 * UserPoolResourceRead quota (20 requests/s per account, 5 per pool), not the UserList one. A pool
 * holds at most 10,000 groups: a walk past {@link MAX_GROUPS_WALKED} is stopped unless the caller
 * sets its own `maxItems`.
 */
export function listGroupPages(options: PagingOptions & { readonly userPoolId: string }): AsyncGenerator<CognitoPage<GroupType>, void, undefined> {
  const { userPoolId } = options;
  return cognitoPages<ListGroupsCommandOutput, GroupType>(
    {
      what: `ListGroups on user pool ${userPoolId}`,
      send: (client, token) => client.send(new ListGroupsCommand({ UserPoolId: userPoolId, Limit: MAX_PAGE_SIZE, ...(token ? { NextToken: token } : {}) })),
      items: (output) => output.Groups,
      next: (output) => output.NextToken,
    },
    { ...options, maxItems: options.maxItems ?? MAX_GROUPS_WALKED },
  );
}

/**
 * The pages of one group's members: ListUsersInGroup with Limit 60, following NextToken. It draws
 * on the UserList quota with ListUsers. A group deleted mid-walk answers ResourceNotFoundException
 * (a FatalExportError here: the caller decides that it only skips the group).
 */
export function listMemberPages(options: PagingOptions & { readonly userPoolId: string; readonly groupName: string }): AsyncGenerator<CognitoPage<UserType>, void, undefined> {
  const { userPoolId, groupName } = options;
  return cognitoPages<ListUsersInGroupCommandOutput, UserType>(
    {
      what: `ListUsersInGroup of group ${JSON.stringify(groupName)} on user pool ${userPoolId}`,
      send: (client, token) =>
        client.send(new ListUsersInGroupCommand({ UserPoolId: userPoolId, GroupName: groupName, Limit: MAX_PAGE_SIZE, ...(token ? { NextToken: token } : {}) })),
      items: (output) => output.Users,
      next: (output) => output.NextToken,
    },
    options,
  );
}
