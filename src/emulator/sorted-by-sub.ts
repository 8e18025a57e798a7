/** Anything kept in `sub` order: the pool's users, a group's members. */
export interface HasSub {
  readonly sub: string;
}

/** Orders by `sub` in plain code-unit order (like a byte compare), the emulator's only sort key for users. */
export function compareBySub(a: HasSub, b: HasSub): number {
  return a.sub < b.sub ? -1 : a.sub > b.sub ? 1 : 0;
}

/** Index of the first item whose sub is ≥ `sub` in an array sorted by sub. */
export function lowerBoundBySub(items: readonly HasSub[], sub: string): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((items[mid] as HasSub).sub < sub) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first item whose sub is > `sub`: where a page that resumes after `sub` starts. */
export function upperBoundBySub(items: readonly HasSub[], sub: string): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((items[mid] as HasSub).sub <= sub) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
