/**
 * Binary searches over arrays kept sorted by a string key in plain code-unit order (like a byte
 * compare): the pool's users and a group's members by sub, a pool's groups by name. They are what
 * make a token "the last key returned" exact, and a `sub ^=` filter a range.
 */

/** Index of the first item whose key is ≥ `target`. */
export function lowerBound<T>(items: readonly T[], target: string, key: (item: T) => string): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(items[mid] as T) < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first item whose key is > `target`: where a page that resumes after `target` starts. */
export function upperBound<T>(items: readonly T[], target: string, key: (item: T) => string): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(items[mid] as T) <= target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The sort key of users and members. */
export function subOf(item: { readonly sub: string }): string {
  return item.sub;
}

/** The sort key of groups. */
export function nameOf(item: { readonly name: string }): string {
  return item.name;
}
